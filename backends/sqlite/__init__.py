"""SQLite backend (the default): one file, WAL, safe with several processes on the same file."""

from __future__ import annotations

from pathlib import Path

from backends.sql import migrate
from backends.sql.backend import SqlBackend
from backends.sqlite.db import SqliteDatabase
from localcore.clock import Clock, system_clock


class SqliteBackend(SqlBackend):
    kind = "sqlite"
    db: SqliteDatabase


async def migrate_sqlite(db: SqliteDatabase) -> list[int]:
    migrations = migrate.load_migrations("backends.sqlite")
    async with db.transaction() as tx:  # BEGIN IMMEDIATE: the cross-process migration lock
        await tx.execute(migrate.CREATE_TABLE.format(ts="INTEGER"))
        done = await migrate.applied(tx)
        return await migrate.apply_pending(tx, migrations, done, per_statement=True)


async def open_sqlite(path: str, *, clock: Clock | None = None, migrate_schema: bool = True) -> SqliteBackend:
    if path != ":memory:":
        Path(path).parent.mkdir(parents=True, exist_ok=True)
    db = SqliteDatabase(path)
    await db.open()
    try:
        if migrate_schema:
            await migrate_sqlite(db)
    except BaseException:
        await db.close()
        raise
    return SqliteBackend(db, clock or system_clock)
