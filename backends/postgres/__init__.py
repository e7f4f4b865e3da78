"""Postgres backend (production): an asyncpg pool; several processes on one database act as one server."""

from __future__ import annotations

from backends.postgres.db import PostgresDatabase
from backends.postgres.snapshot import PostgresDialect
from backends.sql import migrate
from backends.sql.backend import SqlBackend
from localcore.contract.clock import Clock, system_clock
from localcore.contract.ledger import LedgerVocabulary


class PostgresBackend(SqlBackend):
    kind = "postgres"
    snapshot_dialect = PostgresDialect()
    db: PostgresDatabase


async def migrate_postgres(db: PostgresDatabase) -> list[int]:
    migrations = migrate.load_migrations("backends.postgres")
    async with db.connection() as conn:
        await conn.execute("SELECT pg_advisory_lock($1)", migrate.MIGRATION_LOCK_ID)
        try:
            await conn.execute(migrate.CREATE_TABLE.format(ts="timestamptz"))
            async with db.transaction() as tx:
                done = await migrate.applied(tx)
                return await migrate.apply_pending(tx, migrations, done, per_statement=False)
        finally:
            await conn.execute("SELECT pg_advisory_unlock($1)", migrate.MIGRATION_LOCK_ID)


async def open_postgres(dsn: str, *, clock: Clock | None = None, migrate_schema: bool = True,
                        max_size: int = 10, ledger_vocabulary: LedgerVocabulary | None = None) -> PostgresBackend:
    db = PostgresDatabase(dsn, max_size=max_size)
    await db.open()
    try:
        if migrate_schema:
            await migrate_postgres(db)
    except BaseException:
        await db.close()
        raise
    return PostgresBackend(db, clock or system_clock, ledger_vocabulary=ledger_vocabulary)
