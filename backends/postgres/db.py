"""Postgres adapter over an asyncpg pool (READ COMMITTED; serialisation through row or advisory locks).

Driver errors that mean "the server cannot be reached" — a refused or lost connection, a connect that
takes longer than :data:`CONNECT_TIMEOUT_SECONDS`, the server shutting down — become
``StorageUnavailable`` (503 ``db_unavailable``), logged once per outage; the pool reconnects by itself
when the server is back. Constraint failures become ``ConstraintViolation``.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Awaitable, Sequence
from contextlib import asynccontextmanager
from typing import Any, TypeVar

import asyncpg

from backends.postgres.identity_version import READ_VERSION, SharedRead
from backends.sql.db import Row
from backends.sql.outage import OutageLog
from localcore.contract.errors import ConstraintViolation, StorageUnavailable

T = TypeVar("T")
#: A stopped or unreachable server must answer 503 within a few seconds, never hang a request.
CONNECT_TIMEOUT_SECONDS = 3.0
_UNREACHABLE = (OSError, TimeoutError, asyncpg.PostgresConnectionError, asyncpg.exceptions.OperatorInterventionError,
                asyncpg.exceptions.TooManyConnectionsError)


def _violation(exc: asyncpg.IntegrityConstraintViolationError) -> ConstraintViolation:
    kinds = {
        asyncpg.UniqueViolationError: "unique",
        asyncpg.ForeignKeyViolationError: "foreign_key",
        asyncpg.NotNullViolationError: "not_null",
        asyncpg.CheckViolationError: "check",
    }
    for cls, kind in kinds.items():
        if isinstance(exc, cls):
            return ConstraintViolation(kind, str(exc))
    return ConstraintViolation("check", str(exc))


def _count(status: str) -> int:
    tail = status.rsplit(" ", 1)[-1]
    return int(tail) if tail.isdigit() else 0


class _Conn:
    dialect = "postgres"

    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool, outage: OutageLog) -> None:
        self._conn = conn
        self._outage = outage

    async def _run(self, operation: Awaitable[T]) -> T:
        try:
            result = await operation
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _violation(exc) from None
        except _UNREACHABLE as exc:
            self._outage.failed(type(exc).__name__)
            raise StorageUnavailable("database unavailable") from None
        self._outage.recovered()
        return result

    async def execute(self, sql: str, *args: Any) -> int:
        return _count(await self._run(self._conn.execute(sql, *args)))

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        await self._run(self._conn.executemany(sql, rows))

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._run(self._conn.fetch(sql, *args)))

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        row: Row | None = await self._run(self._conn.fetchrow(sql, *args))
        return row

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self._run(self._conn.fetchval(sql, *args))


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PostgresDatabase(_Conn):
    """``backends.sql.db.Database`` over an asyncpg pool."""

    # min_size 0: connections are opened on demand. With a floor, asyncpg's pool keeps reconnecting in the
    # background during an outage and logs a stack trace for every attempt.
    def __init__(self, dsn: str, *, min_size: int = 0, max_size: int = 10) -> None:
        self.dsn = dsn
        self._min = min_size
        self._max = max_size
        self.pool: asyncpg.Pool | None = None
        self._outage = OutageLog("database")
        self._identity_version = SharedRead(self._read_identity_version)

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=self._min, max_size=self._max, init=_init_connection,
            command_timeout=60, timeout=CONNECT_TIMEOUT_SECONDS,
        )
        self._conn = self.pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        """A transaction on one pooled connection; an unreachable server (at acquire, inside, or at
        commit) is ``StorageUnavailable`` and nothing was committed."""
        assert self.pool is not None, "database is not open"
        try:
            async with self.pool.acquire() as conn, conn.transaction():
                yield _Conn(conn, self._outage)
        except _UNREACHABLE as exc:
            self._outage.failed(type(exc).__name__)
            raise StorageUnavailable("database unavailable") from None

    async def identity_version(self) -> int | None:
        """Migration 0005's committed counter, from a read that started after this call
        (``backends.postgres.identity_version``)."""
        if self.pool is None:
            return None
        return await self._identity_version()

    async def _read_identity_version(self) -> int:
        return int(await self.fetchval(READ_VERSION))

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        assert self.pool is not None, "database is not open"
        async with self.pool.acquire() as conn:
            yield conn

    def connection_stats(self) -> tuple[bool, dict[str, int]]:
        pool = self.pool
        if pool is None:
            return False, {}
        size, idle = pool.get_size(), pool.get_idle_size()
        return not self._outage.down, {"busy": size - idle, "idle": idle, "max": self._max}

    async def lock(self, tx: Any, key: str) -> None:
        await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)

    async def close(self) -> None:
        await self._identity_version.close()
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()
