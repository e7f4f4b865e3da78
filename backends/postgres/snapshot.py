"""The Postgres side of ``backends.sql.snapshot``.

Declared types come from ``information_schema.columns``. A consistent read is a ``REPEATABLE READ READ
ONLY`` transaction on one pooled connection, read through server-side cursors. An import locks every
table ``EXCLUSIVE`` (readers go on, writers wait) and afterwards moves any serial or identity sequence
past the imported values, and the identity version on (migration 0005's counter row, which is neither
exported nor loaded; its triggers fire during the import as on any write).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import asyncpg

from backends.postgres.db import PostgresDatabase
from backends.sql.db import Database, Executor, Row
from backends.sql.snapshot import NOT_EXPORTED, Catalogue, quote
from localcore.contract.snapshot import ColumnType, Encoded, SnapshotError, TableSpec, encode_value

_TYPES: dict[str, ColumnType] = {
    "text": "text", "character varying": "text", "character": "text", "uuid": "text",
    "integer": "integer", "bigint": "integer", "smallint": "integer",
    "boolean": "boolean", "timestamp with time zone": "timestamp",
    "json": "json", "jsonb": "json", "bytea": "bytes",
}

_COLUMNS = """
SELECT table_name, column_name, data_type FROM information_schema.columns
WHERE table_schema = current_schema() AND table_name <> ALL($1::text[]) ORDER BY table_name, ordinal_position
"""
_TABLES = """
SELECT table_name FROM information_schema.tables
WHERE table_schema = current_schema() AND table_type = 'BASE TABLE' AND table_name <> ALL($1::text[])
"""
_KEYS = """
SELECT c.conrelid::regclass::text AS table_name, a.attname AS column_name
FROM pg_constraint c
JOIN LATERAL unnest(c.conkey) WITH ORDINALITY AS k(attnum, n) ON true
JOIN pg_attribute a ON a.attrelid = c.conrelid AND a.attnum = k.attnum
WHERE c.contype = 'p' AND c.connamespace = current_schema()::regnamespace
ORDER BY 1, k.n
"""
_FOREIGN = """
SELECT conrelid::regclass::text AS child, confrelid::regclass::text AS parent FROM pg_constraint
WHERE contype = 'f' AND connamespace = current_schema()::regnamespace
"""


class _Reader:
    def __init__(self, conn: asyncpg.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return list(await self._conn.fetch(sql, *args))

    async def stream(self, sql: str, batch: int) -> AsyncIterator[list[Sequence[Any]]]:
        cursor = await self._conn.cursor(sql)
        while rows := await cursor.fetch(batch):
            yield [tuple(r) for r in rows]


class PostgresDialect:
    async def tables(self, catalogue: Catalogue) -> tuple[list[TableSpec], dict[str, set[str]]]:
        names = [str(r["table_name"]) for r in await catalogue.fetch(_TABLES, list(NOT_EXPORTED))]
        columns: dict[str, list[tuple[str, ColumnType]]] = {name: [] for name in names}
        for r in await catalogue.fetch(_COLUMNS, list(NOT_EXPORTED)):
            table, column, data_type = str(r["table_name"]), str(r["column_name"]), str(r["data_type"])
            if table not in columns:
                continue  # a view
            kind = _TYPES.get(data_type)
            if kind is None:
                raise SnapshotError(f"column {table}.{column}: Postgres type {data_type!r} has no snapshot type")
            columns[table].append((column, kind))
        keys: dict[str, list[str]] = {name: [] for name in names}
        for r in await catalogue.fetch(_KEYS):
            keys.setdefault(str(r["table_name"]).strip('"'), []).append(str(r["column_name"]))
        parents: dict[str, set[str]] = {name: set() for name in names}
        for r in await catalogue.fetch(_FOREIGN):
            parents.setdefault(str(r["child"]).strip('"'), set()).add(str(r["parent"]).strip('"'))
        specs = [TableSpec(name, tuple(columns[name]), tuple(keys.get(name, ()))) for name in names]
        return specs, parents

    def encoder(self, kind: ColumnType) -> Callable[[Any], Encoded] | None:
        if kind in ("timestamp", "bytes"):
            return lambda value: encode_value(kind, value)
        return None  # asyncpg gives str, int, bool and (through the json codec) decoded JSON

    @asynccontextmanager
    async def read_snapshot(self, db: Database) -> AsyncIterator[_Reader]:
        assert isinstance(db, PostgresDatabase) and db.pool is not None, "database is not open"
        async with db.pool.acquire() as conn, conn.transaction(isolation="repeatable_read", readonly=True):
            yield _Reader(conn)

    async def before_import(self, tx: Executor, tables: Sequence[TableSpec]) -> None:
        if tables:
            await tx.execute(f"LOCK TABLE {', '.join(quote(t.name) for t in tables)} IN EXCLUSIVE MODE")

    async def after_import(self, tx: Executor, tables: Sequence[TableSpec]) -> None:
        for spec in tables:
            for column, kind in spec.columns:
                if kind != "integer":
                    continue
                sequence = await tx.fetchval("SELECT pg_get_serial_sequence($1, $2)", quote(spec.name), column)
                if sequence is not None:
                    await tx.fetchval(
                        f"SELECT setval($1, COALESCE(MAX({quote(column)}), 1), MAX({quote(column)}) IS NOT NULL) "
                        f"FROM {quote(spec.name)}", sequence)
        # The identity version: an import may leave every table as it was (or insert only rows that bump
        # nothing), and every process's cache must still let go of what it holds.
        await tx.execute("UPDATE identity_version SET version = version + 1 WHERE id = 1")
