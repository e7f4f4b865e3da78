"""Postgres adapter over an asyncpg pool (READ COMMITTED; serialisation through row or advisory locks)."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from backends.sql.db import Row
from localcore.store import ConstraintViolation


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

    def __init__(self, conn: asyncpg.Connection | asyncpg.Pool) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            return _count(await self._conn.execute(sql, *args))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _violation(exc) from None

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(sql, rows)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _violation(exc) from None

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            return list(await self._conn.fetch(sql, *args))
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _violation(exc) from None

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        try:
            row: Row | None = await self._conn.fetchrow(sql, *args)
            return row
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _violation(exc) from None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        try:
            return await self._conn.fetchval(sql, *args)
        except asyncpg.IntegrityConstraintViolationError as exc:
            raise _violation(exc) from None


async def _init_connection(conn: asyncpg.Connection) -> None:
    for name in ("json", "jsonb"):
        await conn.set_type_codec(name, encoder=json.dumps, decoder=json.loads, schema="pg_catalog")


class PostgresDatabase(_Conn):
    """``backends.sql.db.Database`` over an asyncpg pool."""

    def __init__(self, dsn: str, *, min_size: int = 1, max_size: int = 10) -> None:
        self.dsn = dsn
        self._min = min_size
        self._max = max_size
        self.pool: asyncpg.Pool | None = None

    async def open(self) -> None:
        self.pool = await asyncpg.create_pool(
            self.dsn, min_size=self._min, max_size=self._max, init=_init_connection,
            command_timeout=60,
        )
        self._conn = self.pool

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        assert self.pool is not None, "database is not open"
        async with self.pool.acquire() as conn, conn.transaction():
            yield _Conn(conn)

    @asynccontextmanager
    async def connection(self) -> AsyncIterator[asyncpg.Connection]:
        assert self.pool is not None, "database is not open"
        async with self.pool.acquire() as conn:
            yield conn

    async def lock(self, tx: Any, key: str) -> None:
        await tx.execute("SELECT pg_advisory_xact_lock(hashtextextended($1, 0))", key)

    async def close(self) -> None:
        pool, self.pool = self.pool, None
        if pool is not None:
            await pool.close()
