"""Numbered SQL migrations (``migrations/NNNN_name.sql``), applied once each, recorded with a checksum.

The runner holds a lock for the whole run so that several processes starting at once migrate exactly
once: ``pg_advisory_lock`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite (each file is applied inside that
write transaction together with its ``schema_migrations`` row). A changed checksum of an applied file is
an error: migrations are append-only. The checksum covers the statements, not the ``--`` comment lines,
so a comment can be corrected without invalidating databases that applied the file.
"""

from __future__ import annotations

import hashlib
import re
import sqlite3
from dataclasses import dataclass
from datetime import UTC, datetime
from importlib import resources
from importlib.resources.abc import Traversable

from backends.sql.db import Executor

MIGRATION_LOCK_ID = 0x626F7265  # "bore", as upstream
#: Whole-file checksums recorded by localcore before comment lines stopped counting, by the file they
#: belong to: an applied migration recorded with one of them is the same schema, and its row is updated.
LEGACY_CHECKSUMS = {
    "25936bbb47ab529bf4503df206ba95a5eff09e65d2bd401bc85a1dbb76ba2f09": "sqlite/0001_core.sql",
    "fdecd7e994a28be03c1f36e14a276abbcd53104242234a7d9f25fddfbe240a1a": "sqlite/0002_metering.sql",
    "7fbba11f770a25fe41ead56cb6b4cd33b9abc29227fd3b344dd7d54c7e8aff3c": "postgres/0001_core.sql",
    "4c2afaa25789bbc538d6e97ed4257f8d366142f6d066253e4b0ca01cbd0d20ca": "postgres/0002_metering.sql",
}
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """An applied migration was edited, or the database is newer than this code."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str
    dialect: str = ""

    @property
    def checksum(self) -> str:
        statements = [line.rstrip() for line in self.sql.splitlines() if not line.lstrip().startswith("--")]
        return hashlib.sha256("\n".join(statements).strip().encode()).hexdigest()


def load_migrations(package: str) -> list[Migration]:
    """Every ``NNNN_*.sql`` in ``<package>.migrations``, ordered by number."""
    folder: Traversable = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8"),
                                   dialect=package.rsplit(".", 1)[-1]))
    found.sort(key=lambda m: m.version)
    return found


def split_statements(sql: str) -> list[str]:
    """Split a script into complete statements (SQLite runs one statement per call)."""
    statements: list[str] = []
    buffer = ""
    for line in sql.splitlines(keepends=True):
        buffer += line
        if sqlite3.complete_statement(buffer):
            if buffer.strip():
                statements.append(buffer.strip())
            buffer = ""
    if buffer.strip() and not all(ln.strip().startswith("--") or not ln.strip() for ln in buffer.splitlines()):
        statements.append(buffer.strip())
    return statements


CREATE_TABLE = (
    "CREATE TABLE IF NOT EXISTS schema_migrations (version integer PRIMARY KEY, name text NOT NULL, "
    "checksum text NOT NULL, applied_at {ts} NOT NULL)"
)


async def applied(tx: Executor) -> dict[int, str]:
    rows = await tx.fetch("SELECT version, checksum FROM schema_migrations")
    return {int(r["version"]): str(r["checksum"]) for r in rows}


async def apply_pending(tx: Executor, migrations: list[Migration], done: dict[int, str],
                        *, per_statement: bool) -> list[int]:
    """Apply what is missing inside the caller's transaction/lock; verify checksums of the rest."""
    newest_known = migrations[-1].version if migrations else 0
    if done and max(done) > newest_known:
        raise MigrationError(f"database schema version {max(done)} is newer than this code ({newest_known})")
    ran: list[int] = []
    for migration in migrations:
        if migration.version in done:
            recorded = done[migration.version]
            if recorded != migration.checksum:
                if LEGACY_CHECKSUMS.get(recorded) != f"{migration.dialect}/{migration.name}":
                    raise MigrationError(f"applied migration {migration.name} was modified")
                await tx.execute("UPDATE schema_migrations SET checksum = $2 WHERE version = $1",
                                 migration.version, migration.checksum)
            continue
        if per_statement:
            for statement in split_statements(migration.sql):
                await tx.execute(statement)
        else:
            await tx.execute(migration.sql)
        await tx.execute(
            "INSERT INTO schema_migrations (version, name, checksum, applied_at) VALUES ($1, $2, $3, $4)",
            migration.version, migration.name, migration.checksum, datetime.now(UTC))
        ran.append(migration.version)
    return ran
