"""What a backup or a file offered to ``restore`` must be: an intact SQLite file that localcore made.

``verify`` runs ``PRAGMA integrity_check``, requires the ``schema_migrations`` table, and compares every
recorded migration with the ones this code ships (number and checksum, as the migration runner does): a
foreign SQLite file, a file whose migrations were edited, or one from a newer localcore is refused. An
older schema is accepted (the server migrates it on its next start).
"""

from __future__ import annotations

import sqlite3
from dataclasses import dataclass, field
from pathlib import Path

from backends.sql.migrate import LEGACY_CHECKSUMS, Migration, load_migrations

#: The tables whose row counts a report shows (those that exist in the file).
MAIN_TABLES = ("users", "accounts", "sessions", "workspaces", "workspace_members", "workspace_settings",
               "boring_credit_grants", "boring_usage_ledger", "audit_events")
SQLITE_MAGIC = b"SQLite format 3\x00"


class BackupError(Exception):
    """The backup or restore cannot go on; the message says why (and that nothing was changed)."""


@dataclass(frozen=True, slots=True)
class DatabaseReport:
    path: Path
    size: int
    schema_version: int
    newest_known: int
    counts: dict[str, int] = field(default_factory=dict)
    warnings: tuple[str, ...] = ()

    def lines(self) -> list[str]:
        counts = ", ".join(f"{name} {count}" for name, count in self.counts.items())
        schema = f"schema version {self.schema_version}"
        if self.schema_version < self.newest_known:
            schema += f" (migrated to {self.newest_known} when a server starts on it)"
        return [f"  size: {human_size(self.size)} ({self.size} bytes)   {schema}   integrity: ok",
                f"  rows: {counts}", *(f"  warning: {warning}" for warning in self.warnings)]


def human_size(size: int) -> str:
    value = float(size)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if value < 1024 or unit == "GiB":
            return f"{value:.0f} {unit}" if unit == "bytes" else f"{value:.1f} {unit}"
        value /= 1024
    raise AssertionError("unreachable")


def has_sqlite_header(path: Path) -> bool:
    with path.open("rb") as file:
        return file.read(len(SQLITE_MAGIC)) == SQLITE_MAGIC


def expected_size(path: Path) -> int | None:
    """The file size the SQLite header promises (page size x page count), when the header says so reliably
    (its change counter matches "version-valid-for"); None otherwise."""
    with path.open("rb") as file:
        header = file.read(100)
    if len(header) < 100:
        return None
    page_size = int.from_bytes(header[16:18], "big")
    page_size = 65536 if page_size == 1 else page_size
    pages = int.from_bytes(header[28:32], "big")
    if header[24:28] != header[92:96] or not pages:
        return None
    return page_size * pages


def known_migrations() -> list[Migration]:
    return load_migrations("backends.sqlite")


def integrity_problems(conn: sqlite3.Connection, limit: int = 5) -> list[str]:
    rows = conn.execute(f"PRAGMA integrity_check({int(limit)})").fetchall()
    messages = [str(row[0]) for row in rows]
    return [] if messages == ["ok"] else messages


def _tables(conn: sqlite3.Connection) -> set[str]:
    return {str(row[0]) for row in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")}


def schema_version(conn: sqlite3.Connection, migrations: list[Migration] | None = None) -> int:
    """The file's schema version, after checking it is a localcore database this code can serve."""
    migrations = known_migrations() if migrations is None else migrations
    if "schema_migrations" not in _tables(conn):
        raise BackupError("it is a SQLite database but not a localcore one (no schema_migrations table)")
    recorded = {int(version): str(checksum)
                for version, checksum in conn.execute("SELECT version, checksum FROM schema_migrations")}
    if not recorded:
        raise BackupError("it is not a localcore database (schema_migrations is empty)")
    newest_known = migrations[-1].version
    if max(recorded) > newest_known:
        raise BackupError(f"its schema version {max(recorded)} is newer than this localcore knows "
                          f"({newest_known}): restore it with the localcore version that made it")
    by_version = {m.version: m for m in migrations}
    for version, checksum in sorted(recorded.items()):
        migration = by_version.get(version)
        if migration is None:
            raise BackupError(f"it records migration {version}, which localcore does not have")
        if checksum != migration.checksum and LEGACY_CHECKSUMS.get(checksum) != f"sqlite/{migration.name}":
            raise BackupError(f"its migration {migration.name} differs from localcore's (a foreign or edited "
                              "database)")
    if sorted(recorded) != list(range(1, max(recorded) + 1)):
        raise BackupError(f"its migrations {sorted(recorded)} have gaps: not a database localcore made")
    return max(recorded)


def row_counts(conn: sqlite3.Connection) -> dict[str, int]:
    present = _tables(conn)
    # Table names come from the fixed MAIN_TABLES list, never from input.
    return {name: int(conn.execute(f'SELECT count(*) FROM "{name}"').fetchone()[0])
            for name in MAIN_TABLES if name in present}


def foreign_key_problems(conn: sqlite3.Connection) -> int:
    return len(conn.execute("PRAGMA foreign_key_check").fetchall())


def verify(conn: sqlite3.Connection, path: Path) -> DatabaseReport:
    """Check the open database ``conn`` (the file ``path``) thoroughly; raise ``BackupError`` if it is not a
    sound localcore database."""
    try:
        problems = integrity_problems(conn)
        if problems:
            raise BackupError("PRAGMA integrity_check failed: " + "; ".join(problems))
        migrations = known_migrations()
        version = schema_version(conn, migrations)
        counts = row_counts(conn)
        dangling = foreign_key_problems(conn)
    except sqlite3.DatabaseError as exc:
        raise BackupError(f"it is not a readable SQLite database ({exc})") from None
    warnings = (f"{dangling} rows reference missing rows (PRAGMA foreign_key_check)",) if dangling else ()
    return DatabaseReport(path, path.stat().st_size, version, migrations[-1].version, counts, warnings)
