"""Numbered SQL migrations (``migrations/NNNN_name.sql``), applied once each, recorded with a checksum.

The runner holds a lock for the whole run so that several processes starting at once migrate exactly
once: ``pg_advisory_lock`` on Postgres, ``BEGIN IMMEDIATE`` on SQLite (each file is applied inside that
write transaction together with its ``schema_migrations`` row). A changed checksum of an applied file is
an error: migrations are append-only.
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
_NAME = re.compile(r"^(\d{4})_[a-z0-9_]+\.sql$")


class MigrationError(RuntimeError):
    """An applied migration was edited, or the database is newer than this code."""


@dataclass(frozen=True, slots=True)
class Migration:
    version: int
    name: str
    sql: str

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def load_migrations(package: str) -> list[Migration]:
    """Every ``NNNN_*.sql`` in ``<package>.migrations``, ordered by number."""
    folder: Traversable = resources.files(package) / "migrations"
    found = []
    for entry in folder.iterdir():
        match = _NAME.match(entry.name)
        if match:
            found.append(Migration(int(match.group(1)), entry.name, entry.read_text("utf-8")))
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
            if done[migration.version] != migration.checksum:
                raise MigrationError(f"applied migration {migration.name} was modified")
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
