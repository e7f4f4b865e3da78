"""The Backend object both SQL backends return: the core stores and the ledger over one ``Database``."""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from backends.sql.audit import SqlAuditStore
from backends.sql.db import Database
from backends.sql.metering import SqlMeteringStore
from backends.sql.snapshot import SqlDialect, SqlSnapshot, SqlSnapshotWriter, sql_restore, sql_snapshot
from backends.sql.stores import (
    SqlIdempotencyStore,
    SqlRateLimitStore,
    SqlSessionStore,
    SqlTokenStore,
    SqlUserStore,
    SqlWorkspaceStore,
)
from localcore.contract.clock import Clock
from localcore.contract.ledger import LedgerVocabulary


class SqlBackend:
    kind: str = "sql"
    #: What differs between SQLite and Postgres in a snapshot (set by each backend).
    snapshot_dialect: SqlDialect

    def __init__(self, db: Database, clock: Clock, *, ledger_vocabulary: LedgerVocabulary | None = None) -> None:
        self.db = db
        self.clock = clock
        self.users = SqlUserStore(db, clock)
        self.sessions = SqlSessionStore(db, clock)
        self.tokens = SqlTokenStore(db, clock)
        self.workspaces = SqlWorkspaceStore(db, clock)
        self.idempotency = SqlIdempotencyStore(db, clock)
        self.rate_limits = SqlRateLimitStore(db, clock)
        self.metering = SqlMeteringStore(db, clock, ledger_vocabulary)
        self.audit = SqlAuditStore(db, clock)
        self._closed = False

    async def ping(self) -> None:
        await self.db.fetchval("SELECT 1")

    def connection_stats(self) -> tuple[bool, dict[str, int]]:
        """Whether the storage answered the last operation, and its connections by state (``/metrics``)."""
        return self.db.connection_stats()

    async def identity_version(self) -> int | None:
        return await self.db.identity_version()

    async def schema_version(self) -> int:
        return int(await self.db.fetchval("SELECT COALESCE(MAX(version), 0) FROM schema_migrations"))

    def snapshot(self) -> AbstractAsyncContextManager[SqlSnapshot]:
        """``SnapshotSource``: every table at one moment (``backends.sql.snapshot``)."""
        return sql_snapshot(self.db, self.snapshot_dialect)

    def restore(self) -> AbstractAsyncContextManager[SqlSnapshotWriter]:
        """``SnapshotSink``: one write transaction over every table."""
        return sql_restore(self.db, self.snapshot_dialect)

    async def close(self) -> None:
        if not self._closed:
            self._closed = True
            await self.db.close()

    async def __aenter__(self) -> SqlBackend:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
