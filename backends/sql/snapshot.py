"""Snapshots of a SQL backend (``localcore.contract.snapshot``), written once for SQLite and Postgres.

Nothing here names a data table: the tables, their columns, primary keys and foreign keys are read from
the database's own catalogue (minus :data:`NOT_EXPORTED`, the bookkeeping every database keeps for itself),
so a table a new migration adds is exported and imported with no change here. Parents come before the tables that
reference them (a topological order of the foreign keys, ties by name); rows are inserted in that order and
deleted in the reverse one, so no constraint needs deferring.

The dialect (``SqlDialect``) supplies what differs: how the catalogue is read, what a declared type
stores, how a consistent read is opened, and what to do before and after an import.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Callable, Mapping, Sequence
from contextlib import AbstractAsyncContextManager, asynccontextmanager
from typing import Any, Protocol

from backends.sql.db import Database, Executor, Row
from localcore.contract.snapshot import (
    BATCH_ROWS,
    ColumnType,
    Encoded,
    EncodedRow,
    SnapshotError,
    TableSpec,
    convert_rows,
    row_converter,
)

MIGRATIONS_TABLE = "schema_migrations"
#: Tables that hold no data, only state derived from the database's own history, so they are neither
#: exported nor cleared nor loaded: the migrations applied, and SQLite's identity-version counter
#: (migration 0005; moved by triggers, and by ``SqlDialect.after_import``). Importing a counter would move
#: it backwards, and a process's identity cache would then outlive the import.
NOT_EXPORTED: tuple[str, ...] = (MIGRATIONS_TABLE, "identity_version")


def quote(name: str) -> str:
    """A quoted identifier (every name comes from the catalogue or is checked against it)."""
    return '"' + name.replace('"', '""') + '"'


class Catalogue(Protocol):
    """Read-only access used to list tables: ``fetch`` as on an ``Executor``."""

    async def fetch(self, sql: str, *args: Any) -> list[Row]: ...


class ReadSnapshot(Catalogue, Protocol):
    """One consistent read transaction."""

    def stream(self, sql: str, batch: int) -> AsyncIterator[list[Sequence[Any]]]:
        """The rows of ``sql`` as tuples, ``batch`` at a time, from a server-side cursor."""


class SqlDialect(Protocol):
    async def tables(self, catalogue: Catalogue) -> tuple[list[TableSpec], dict[str, set[str]]]:
        """Every table but :data:`NOT_EXPORTED` and, per table, the tables its foreign keys reference."""

    def encoder(self, kind: ColumnType) -> Callable[[Any], Encoded] | None:
        """Stored value (as the driver returns it, never None) -> encoded value of ``kind``; None when the
        driver's value is already the encoded one."""

    def read_snapshot(self, db: Database) -> AbstractAsyncContextManager[ReadSnapshot]:
        """A consistent read transaction on one connection of its own."""

    async def before_import(self, tx: Executor, tables: Sequence[TableSpec]) -> None:
        """Keep other writers out of every table until the transaction ends."""

    async def after_import(self, tx: Executor, tables: Sequence[TableSpec]) -> None:
        """Reset what depends on the rows (sequences), inside the same transaction, and move the identity
        version (``Backend.identity_version``): an import changes identities, so no process's identity
        cache may survive it, whichever rows it wrote (a bump by triggers is not enough: inserting
        users or sessions fires none)."""


def dependency_order(specs: Sequence[TableSpec], parents: Mapping[str, set[str]]) -> list[TableSpec]:
    """``specs`` with every table after the tables it references (self-references ignored; ``parents``
    names only tables of ``specs``)."""
    by_name = {spec.name: spec for spec in specs}
    done: list[TableSpec] = []
    placed: set[str] = set()
    pending = sorted(by_name)
    while pending:
        ready = [name for name in pending if parents.get(name, set()) - {name} <= placed]
        if not ready:
            raise SnapshotError(f"foreign keys form a cycle among {', '.join(pending)}")
        for name in ready:
            done.append(by_name[name])
            placed.add(name)
        pending = [name for name in pending if name not in placed]
    return done


async def ordered_tables(dialect: SqlDialect, catalogue: Catalogue) -> list[TableSpec]:
    specs, parents = await dialect.tables(catalogue)
    return dependency_order(specs, {name: refs & {s.name for s in specs} for name, refs in parents.items()})


class _Catalogued:
    """What a snapshot and a restore both hold: the catalogue's tables (parents first), by name, and the
    schema version read in the same transaction."""

    def __init__(self, tables: list[TableSpec], schema_version: int) -> None:
        self._tables = tables
        self._by_name = {spec.name: spec for spec in tables}
        self.schema_version = schema_version

    @property
    def tables(self) -> Sequence[TableSpec]:
        return self._tables


class SqlSnapshot(_Catalogued):
    """``Snapshot`` over one read transaction."""

    def __init__(self, read: ReadSnapshot, dialect: SqlDialect, tables: list[TableSpec],
                 schema_version: int) -> None:
        super().__init__(tables, schema_version)
        self._read = read
        self._dialect = dialect

    async def rows(self, table: str) -> AsyncIterator[list[EncodedRow]]:
        spec = self._by_name[table]
        names = [name for name, _ in spec.columns]
        # Only the columns whose driver value is not already its encoding are touched, row by row.
        encoders = [(i, name, encode) for i, (name, kind) in enumerate(spec.columns)
                    if (encode := self._dialect.encoder(kind)) is not None]
        order = ", ".join(quote(k) for k in spec.key) or "1"
        sql = f"SELECT {', '.join(quote(n) for n in names)} FROM {quote(table)} ORDER BY {order}"
        async for batch in self._read.stream(sql, BATCH_ROWS):
            out = []
            for row in batch:
                encoded = dict(zip(names, row, strict=True))
                for i, name, encode in encoders:
                    if row[i] is not None:
                        encoded[name] = encode(row[i])
                out.append(encoded)
            yield out


@asynccontextmanager
async def sql_snapshot(db: Database, dialect: SqlDialect) -> AsyncIterator[SqlSnapshot]:
    async with dialect.read_snapshot(db) as read:
        # The first read fixes the snapshot (SQLite starts it at the first SELECT): the version belongs to it.
        rows = await read.fetch(f"SELECT COALESCE(MAX(version), 0) AS v FROM {MIGRATIONS_TABLE}")
        version = int(rows[0]["v"])
        yield SqlSnapshot(read, dialect, await ordered_tables(dialect, read), version)


class SqlSnapshotWriter(_Catalogued):
    """``SnapshotWriter`` over one write transaction."""

    def __init__(self, tx: Executor, tables: list[TableSpec], schema_version: int) -> None:
        super().__init__(tables, schema_version)
        self._tx = tx

    async def is_empty(self) -> bool:
        for spec in self._tables:
            if await self._tx.fetch(f"SELECT 1 FROM {quote(spec.name)} LIMIT 1"):
                return False
        return True

    async def clear(self) -> None:
        for spec in reversed(self._tables):
            await self._tx.execute(f"DELETE FROM {quote(spec.name)}")

    async def insert(self, table: str, columns: Sequence[tuple[str, ColumnType]],
                     rows: Sequence[Sequence[Encoded]]) -> None:
        spec = self._by_name.get(table)
        if spec is None:
            raise SnapshotError(f"this database has no table {table}")
        convert = row_converter(spec, columns)
        names = ", ".join(quote(name) for name, _ in columns)
        marks = ", ".join(f"${i}" for i in range(1, len(columns) + 1))
        sql = f"INSERT INTO {quote(table)} ({names}) VALUES ({marks})"
        await self._tx.executemany(sql, convert_rows(convert, rows))

    async def counts(self) -> dict[str, int]:
        counts: dict[str, int] = {}
        for spec in self._tables:
            rows = await self._tx.fetch(f"SELECT COUNT(*) AS n FROM {quote(spec.name)}")
            counts[spec.name] = int(rows[0]["n"])
        return counts


@asynccontextmanager
async def sql_restore(db: Database, dialect: SqlDialect) -> AsyncIterator[SqlSnapshotWriter]:
    async with db.transaction() as tx:
        tables = await ordered_tables(dialect, tx)
        await dialect.before_import(tx, tables)
        version = int(await tx.fetchval(f"SELECT COALESCE(MAX(version), 0) FROM {MIGRATIONS_TABLE}"))
        yield SqlSnapshotWriter(tx, tables, version)
        await dialect.after_import(tx, tables)
