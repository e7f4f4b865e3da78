"""SQLite adapter: one writer connection on aiosqlite's thread, one reader connection on the loop, WAL.

Writers serialise twice: an ``asyncio.Lock`` inside this process and ``BEGIN IMMEDIATE`` across processes
(SQLite's database write lock, waited for through ``busy_timeout``); writes run on aiosqlite's thread, so
the event loop never waits for the disk. Reads outside a transaction (session lookups, balances — indexed
point queries of a few microseconds) run synchronously on a plain ``sqlite3`` connection: in WAL mode a
reader never waits for a writer, and skipping the thread hop is what lets an authenticated read cost
about as much as a bare handler. Every read sees the latest committed data of every process.

A write that cannot get the database write lock within :data:`BUSY_TIMEOUT_MS` (another process holds
it) is ``StorageBusy`` (503 ``db_busy``); a file that cannot be read or written (deleted, unmounted, disk
full) is ``StorageUnavailable``. Both are logged once per outage, not per request.
"""

from __future__ import annotations

import asyncio
import contextlib
import functools
import itertools
import json
import re
import sqlite3
from collections.abc import AsyncIterator, Sequence
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from typing import Any

import aiosqlite

from backends.sql.db import Row
from backends.sql.outage import OutageLog
from localcore.contract.errors import ConstraintViolation, StorageBusy, StorageUnavailable, StoreError

_PLACEHOLDER = re.compile(r"\$(\d+)")
_FOR_UPDATE = re.compile(r"\s+FOR UPDATE(\s+OF\s+\w+)?", re.IGNORECASE)
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
BUSY_TIMEOUT_MS = 5_000
# A WAL reader only waits in rare moments (WAL recovery); never block the loop for long.
READ_BUSY_TIMEOUT_MS = 250


def to_micros(value: datetime) -> int:
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def from_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def _param(value: Any) -> Any:
    if isinstance(value, datetime):
        return to_micros(value)
    if isinstance(value, dict | list):
        return json.dumps(value, separators=(",", ":"))
    return value


@functools.lru_cache(maxsize=512)
def _columns(description: tuple[tuple[Any, ...], ...]) -> tuple[tuple[str, ...], tuple[int, ...]]:
    """Column names and the positions of timestamp (``*_at``) columns, computed once per query shape."""
    names = tuple(d[0] for d in description)
    return names, tuple(i for i, name in enumerate(names) if name.endswith("_at"))


def _row_factory(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> dict[str, Any]:
    names, stamps = _columns(cursor.description)
    out = dict(zip(names, row, strict=True))
    for index in stamps:
        value = row[index]
        if isinstance(value, int):
            out[names[index]] = from_micros(value)
    return out


@functools.lru_cache(maxsize=1024)
def _translate(sql: str) -> str:
    """Postgres-style SQL → SQLite (cached: the statements are constants)."""
    return _FOR_UPDATE.sub("", _PLACEHOLDER.sub(r"?\1", sql))


_UNAVAILABLE_MARKERS = ("unable to open", "disk i/o", "readonly database", "database or disk is full",
                        "no such file")


def storage_error(exc: sqlite3.OperationalError) -> StoreError | None:
    """The contract error for a lock or I/O failure; None for anything else (a bug, reported as such)."""
    text = str(exc).lower()
    if "locked" in text or "busy" in text:
        return StorageBusy("database is locked by another writer")
    if any(marker in text for marker in _UNAVAILABLE_MARKERS):
        return StorageUnavailable("database file unavailable")
    return None


def _violation(exc: sqlite3.IntegrityError) -> ConstraintViolation:
    text = str(exc)
    if "UNIQUE" in text or "PRIMARY KEY" in text:
        kind = "unique"
    elif "FOREIGN KEY" in text:
        kind = "foreign_key"
    elif "NOT NULL" in text:
        kind = "not_null"
    else:
        kind = "check"
    return ConstraintViolation(kind, text)


class _Conn:
    """Executor over one aiosqlite connection."""

    dialect = "sqlite"

    def __init__(self, conn: aiosqlite.Connection) -> None:
        self._conn = conn

    async def execute(self, sql: str, *args: Any) -> int:
        try:
            cursor = await self._conn.execute(_translate(sql), [_param(a) for a in args])
        except sqlite3.IntegrityError as exc:
            raise _violation(exc) from None
        except sqlite3.OperationalError as exc:
            raise storage_error(exc) or exc from None
        count = cursor.rowcount
        await cursor.close()
        return int(count)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        try:
            await self._conn.executemany(_translate(sql), [[_param(a) for a in r] for r in rows])
        except sqlite3.IntegrityError as exc:
            raise _violation(exc) from None

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        try:
            cursor = await self._conn.execute(_translate(sql), [_param(a) for a in args])
        except sqlite3.IntegrityError as exc:
            raise _violation(exc) from None
        except sqlite3.OperationalError as exc:
            raise storage_error(exc) or exc from None
        rows = await cursor.fetchall()
        await cursor.close()
        return list(rows)  # type: ignore[arg-type]

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        rows = await self.fetch(sql, *args)
        return rows[0] if rows else None

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))


async def _pragma(conn: aiosqlite.Connection, statement: str) -> None:
    # Exhaust and close the cursor: a live PRAGMA statement would keep a lock on the file.
    cursor = await conn.execute(statement)
    await cursor.fetchall()
    await cursor.close()


async def _connect(path: str) -> aiosqlite.Connection:
    conn = await aiosqlite.connect(path, isolation_level=None)
    conn.row_factory = _row_factory  # type: ignore[assignment]
    await _pragma(conn, f"PRAGMA busy_timeout = {BUSY_TIMEOUT_MS}")
    await _pragma(conn, "PRAGMA foreign_keys = ON")
    await _pragma(conn, "PRAGMA synchronous = NORMAL")
    return conn


class _SyncReader:
    """Read-only executor on the event-loop thread (see the module docstring)."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.row_factory = _row_factory
        self._conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS}").fetchall()
        self._conn.execute("PRAGMA query_only = ON").fetchall()

    def _cursor(self, sql: str, args: tuple[Any, ...]) -> sqlite3.Cursor:
        try:
            return self._conn.execute(_translate(sql), [_param(a) for a in args])
        except sqlite3.OperationalError as exc:
            raise storage_error(exc) or exc from None

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        cursor = self._cursor(sql, args)
        try:
            return list(cursor.fetchall())
        finally:
            cursor.close()

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        cursor = self._cursor(sql, args)
        try:
            row: Row | None = cursor.fetchone()
            return row
        finally:
            cursor.close()

    async def fetchval(self, sql: str, *args: Any) -> Any:
        row = await self.fetchrow(sql, *args)
        return None if row is None else next(iter(row.values()))

    def close(self) -> None:
        self._conn.close()


_IDENTITY_VERSION = "SELECT version FROM identity_version WHERE id = 1"


class _VersionReader:
    """The identity version (migration 0005's counter) on a plain connection of its own: no row factory,
    one cached statement, on the event-loop thread like the other reads."""

    def __init__(self, path: str) -> None:
        self._conn = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        self._conn.execute(f"PRAGMA busy_timeout = {READ_BUSY_TIMEOUT_MS}").fetchall()
        self._conn.execute("PRAGMA query_only = ON").fetchall()

    def read(self) -> int | None:
        try:
            row = self._conn.execute(_IDENTITY_VERSION).fetchone()
        except sqlite3.Error:  # unreadable file, or a schema without the counter: cannot vouch
            return None
        return int(row[0]) if row is not None else None

    def close(self) -> None:
        self._conn.close()


class SqliteDatabase:
    """``backends.sql.db.Database`` over a SQLite file."""

    dialect = "sqlite"

    def __init__(self, path: str) -> None:
        self.path = path
        self._writer: _Conn | None = None
        self._reader: _SyncReader | None = None
        self._version: _VersionReader | None = None
        self._raw: list[aiosqlite.Connection] = []
        self._write_lock = asyncio.Lock()
        self._outage = OutageLog("database")

    async def open(self) -> None:
        writer = await _connect(self.path)
        # WAL: readers never block the writer and vice versa; shared by every process on the file.
        for _ in range(50):
            try:
                await _pragma(writer, "PRAGMA journal_mode = WAL")
                break
            except sqlite3.OperationalError:  # another process is switching the mode right now
                await asyncio.sleep(0.05)
        self._raw.append(writer)
        self._writer = _Conn(writer)
        self._reader = _SyncReader(self.path)
        self._version = _VersionReader(self.path)

    @property
    def reader(self) -> _SyncReader:
        assert self._reader is not None, "database is not open"
        return self._reader

    @property
    def writer(self) -> _Conn:
        assert self._writer is not None, "database is not open"
        return self._writer

    async def execute(self, sql: str, *args: Any) -> int:
        async with self.transaction() as tx:
            return await tx.execute(sql, *args)

    async def executemany(self, sql: str, rows: Sequence[Sequence[Any]]) -> None:
        async with self.transaction() as tx:
            await tx.executemany(sql, rows)

    async def fetch(self, sql: str, *args: Any) -> list[Row]:
        return await self.reader.fetch(sql, *args)

    async def fetchrow(self, sql: str, *args: Any) -> Row | None:
        return await self.reader.fetchrow(sql, *args)

    async def fetchval(self, sql: str, *args: Any) -> Any:
        return await self.reader.fetchval(sql, *args)

    async def identity_version(self) -> int | None:
        """Migration 0005's counter, read on every call (see ``Backend.identity_version``)."""
        return self._version.read() if self._version is not None else None

    @asynccontextmanager
    async def transaction(self) -> AsyncIterator[_Conn]:
        async with self._write_lock:
            tx = self.writer
            await self._begin_immediate(tx)
            try:
                yield tx
            except BaseException:
                await tx.execute("ROLLBACK")
                raise
            else:
                try:
                    await tx.execute("COMMIT")
                except (StorageBusy, StorageUnavailable) as exc:
                    self._outage.failed(type(exc).__name__)
                    with contextlib.suppress(sqlite3.Error, StoreError):
                        await tx.execute("ROLLBACK")
                    raise
            self._outage.recovered()

    async def _begin_immediate(self, tx: _Conn) -> None:
        """Take the database write lock: ``busy_timeout`` covers most waits; this loop covers SQLITE_BUSY
        returned without waiting, up to the same deadline. Past it: ``StorageBusy``."""
        deadline = asyncio.get_running_loop().time() + BUSY_TIMEOUT_MS / 1000
        for attempt in itertools.count():
            try:
                await tx.execute("BEGIN IMMEDIATE")
                return
            except StorageBusy as exc:
                if asyncio.get_running_loop().time() >= deadline:
                    self._outage.failed(type(exc).__name__)
                    raise
                await asyncio.sleep(0.01 * min(attempt + 1, 20))
            except StorageUnavailable as exc:
                self._outage.failed(type(exc).__name__)
                raise

    def connection_stats(self) -> tuple[bool, dict[str, int]]:
        open_ = self._writer is not None
        return open_ and not self._outage.down, {"writer": int(open_), "reader": int(self._reader is not None)}

    async def lock(self, tx: Any, key: str) -> None:
        """No-op: ``BEGIN IMMEDIATE`` already holds the database write lock."""

    async def close(self) -> None:
        raw, self._raw = self._raw, []
        for conn in raw:
            await conn.close()
        for reader in (self._reader, self._version):
            if reader is not None:
                reader.close()
        self._writer = None
        self._reader = None
        self._version = None
