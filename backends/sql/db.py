"""The small database interface both SQL backends provide.

SQL is written once, in Postgres style with ``$1``-numbered placeholders; the SQLite adapter rewrites them
to ``?1`` (SQLite's numbered parameters) and strips ``FOR UPDATE`` (its ``BEGIN IMMEDIATE`` write lock
already serialises writers). Values cross the interface as Python objects:

- timestamps are aware UTC ``datetime`` (SQLite stores integer epoch microseconds; any column whose name
  ends in ``_at`` is converted back on read);
- JSON columns accept ``dict``/``list`` and read back through ``json_column``;
- booleans are ``bool`` going in; read them with ``bool(row[...])`` (SQLite gives 0/1).

Constraint failures surface as ``localcore.contract.errors.ConstraintViolation``.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from contextlib import AbstractAsyncContextManager
from typing import Any, Protocol

Row = Mapping[str, Any]


def json_column(value: Any) -> Any:
    """Decode a JSON column value that may arrive as text (SQLite) or already decoded (Postgres)."""
    if isinstance(value, str | bytes):
        return json.loads(value)
    return value


class Executor(Protocol):
    dialect: str  # "sqlite" | "postgres"

    async def execute(self, sql: str, *args: Any) -> int:
        """Run a statement; returns the number of rows it changed."""

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        """Run a statement once per row of parameters (batched by the driver)."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...

    async def fetchrow(self, sql: str, *args: Any) -> Row | None: ...

    async def fetchval(self, sql: str, *args: Any) -> Any: ...


class Database(Executor, Protocol):
    def transaction(self) -> AbstractAsyncContextManager[Executor]:
        """A write transaction. SQLite: ``BEGIN IMMEDIATE`` on the single writer connection (serialised
        with every other writer, in this process and others). Postgres: READ COMMITTED on one pooled
        connection; take row locks (``FOR UPDATE``) or ``lock()`` for serialisation."""

    async def lock(self, tx: Executor, key: str) -> None:
        """Serialise on ``key`` until the transaction ends: ``pg_advisory_xact_lock(hashtextextended(key,
        0))`` on Postgres; a no-op on SQLite (the transaction already holds the database write lock)."""

    def connection_stats(self) -> tuple[bool, dict[str, int]]:
        """Whether the last operation reached the storage, and the connections by state."""

    async def identity_version(self) -> int | None:
        """``localcore.contract.backend.Backend.identity_version`` for this database."""

    async def close(self) -> None: ...
