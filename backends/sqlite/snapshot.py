"""The SQLite side of ``backends.sql.snapshot``.

Declared types: SQLite keeps booleans as integers and JSON as text, so the catalogue can only say
``integer`` and ``text`` for them; a column declared ``INTEGER`` whose name ends in ``_at`` holds epoch
microseconds (the adapter's rule, ``backends.sqlite.db``) and is declared ``timestamp``; ``BLOB`` is
``bytes``. A consistent read is one ``BEGIN`` on a connection of its own: in WAL mode it sees one moment of
the file while the server's writer goes on.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from typing import Any

import aiosqlite

from backends.sql.db import Database, Executor, Row
from backends.sql.snapshot import NOT_EXPORTED, Catalogue, quote
from backends.sqlite.db import SqliteDatabase
from localcore.contract.snapshot import (
    ColumnType,
    Encoded,
    SnapshotError,
    TableSpec,
    datetime_of_micros,
    encode_timestamp,
    encode_value,
)

#: Migration 0005's counter, moved by an import (``after_import``).
BUMP_IDENTITY_VERSION = "UPDATE identity_version SET version = version + 1 WHERE id = 1"


def column_type(name: str, declared: str) -> ColumnType:
    upper = declared.upper()
    if "INT" in upper:
        return "timestamp" if name.endswith("_at") else "integer"
    if "BLOB" in upper:
        return "bytes"
    if any(word in upper for word in ("TEXT", "CHAR", "CLOB")):
        return "text"
    raise SnapshotError(f"column {name}: SQLite type {declared!r} has no snapshot type")


class _Reader:
    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        async with self._conn.execute(sql, args) as cursor:
            names = [d[0] for d in cursor.description]
            return [dict(zip(names, row, strict=True)) for row in await cursor.fetchall()]

    async def stream(self, sql: str, batch: int) -> AsyncIterator[list[Sequence[Any]]]:
        async with self._conn.execute(sql) as cursor:
            while rows := await cursor.fetchmany(batch):
                yield list(rows)


def _encode_micros(value: Any) -> Encoded:
    if isinstance(value, int):
        return encode_timestamp(datetime_of_micros(value))
    raise SnapshotError(f"a timestamp column holds {type(value).__name__}, not epoch microseconds")


class SqliteDialect:
    async def tables(self, catalogue: Catalogue) -> tuple[list[TableSpec], dict[str, set[str]]]:
        marks = ", ".join(f"${i}" for i in range(1, len(NOT_EXPORTED) + 1))
        names = [r["name"] for r in await catalogue.fetch(
            "SELECT name FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%' "
            f"AND name NOT IN ({marks})", *NOT_EXPORTED)]
        specs: list[TableSpec] = []
        parents: dict[str, set[str]] = {}
        for name in names:
            info = await catalogue.fetch(f"PRAGMA table_info({quote(name)})")
            columns = tuple((str(c["name"]), column_type(str(c["name"]), str(c["type"]))) for c in info)
            key = tuple(str(c["name"]) for c in sorted((c for c in info if c["pk"]), key=lambda c: c["pk"]))
            specs.append(TableSpec(name, columns, key))
            parents[name] = {str(f["table"]) for f in await catalogue.fetch(
                f"PRAGMA foreign_key_list({quote(name)})")}
        return specs, parents

    def encoder(self, kind: ColumnType) -> Callable[[Any], Encoded] | None:
        if kind == "timestamp":
            return _encode_micros
        if kind == "bytes":
            return lambda value: encode_value("bytes", value)
        return None  # text and integer: sqlite3 gives str and int

    @asynccontextmanager
    async def read_snapshot(self, db: Database) -> AsyncIterator[_Reader]:
        assert isinstance(db, SqliteDatabase)
        async with aiosqlite.connect(db.path, isolation_level=None) as conn:
            for pragma in ("PRAGMA busy_timeout = 5000", "PRAGMA query_only = ON"):
                await (await conn.execute(pragma)).close()
            await conn.execute("BEGIN")
            try:
                yield _Reader(conn)
            finally:
                await conn.execute("ROLLBACK")

    async def before_import(self, tx: Executor, tables: Sequence[TableSpec]) -> None:
        """Nothing to do: the import's ``BEGIN IMMEDIATE`` holds the database write lock."""

    async def after_import(self, tx: Executor, tables: Sequence[TableSpec]) -> None:
        """No table has an AUTOINCREMENT counter (ids are application UUIDs); the identity-version counter
        (migration 0005, not exported) moves on, in the import's transaction."""
        await tx.execute(BUMP_IDENTITY_VERSION)
