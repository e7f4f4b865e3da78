"""Snapshots: every table of a backend read at one moment, and loaded into another backend in one step.

A backend that can be exported implements :class:`SnapshotSource`; one that can be imported into,
:class:`SnapshotSink` (the SQL and memory backends do both). Rows cross this interface as dicts of column
name -> *encoded* value, a JSON-able value whose form the column's declared :data:`ColumnType` fixes:

============ ================================================================================
type         encoded value
============ ================================================================================
``text``     ``str``
``integer``  ``int`` (any size: JSON integers are exact)
``boolean``  ``bool``
``timestamp`` ISO 8601 text in UTC with microseconds, ``2025-06-01T12:00:00.000001+00:00``
``json``     the JSON value itself
``bytes``    base64 text (standard alphabet, padded)
============ ================================================================================

``None`` (JSON ``null``) is SQL ``NULL`` in every type. A backend declares the types it *stores*: SQLite
keeps booleans as integers and JSON as text, so it declares ``integer`` and ``text`` for them, where
Postgres declares ``boolean`` and ``json``. A sink converts each value from the type the snapshot declared
to its own column's type with :func:`converter` (integer 0/1 -> boolean, text -> json, epoch microseconds
-> timestamp, and back); any other pair, or a value that is not of its declared type, is a
:class:`SnapshotError`. That conversion is the one rule of how values move between backends.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import AbstractAsyncContextManager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Literal, Protocol, get_args, runtime_checkable

ColumnType = Literal["text", "integer", "boolean", "timestamp", "json", "bytes"]
COLUMN_TYPES: frozenset[str] = frozenset(get_args(ColumnType))
Encoded = Any  # a JSON-able value (see the module docstring)
EncodedRow = dict[str, Encoded]
#: Rows per batch a snapshot yields and a sink inserts: big enough for executemany, small enough to stream.
BATCH_ROWS = 2_000

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class SnapshotError(ValueError):
    """A snapshot value, table or column that cannot be loaded as declared (the message says which).
    ``row`` is the 0-based index, in the batch given to ``SnapshotWriter.insert``, of the row at fault."""

    row: int | None = None


@dataclass(frozen=True, slots=True)
class TableSpec:
    """One table: its name, its columns with their declared types (in table order) and its primary key."""

    name: str
    columns: tuple[tuple[str, ColumnType], ...]
    key: tuple[str, ...]

    @property
    def types(self) -> dict[str, ColumnType]:
        return dict(self.columns)


@runtime_checkable
class Snapshot(Protocol):
    """An open, consistent read of every table: what :meth:`rows` yields is one moment of the backend."""

    schema_version: int

    @property
    def tables(self) -> Sequence[TableSpec]:
        """Every table, parents before the tables that reference them."""

    def rows(self, table: str) -> AsyncIterator[list[EncodedRow]]:
        """The table's rows in batches of at most :data:`BATCH_ROWS`, in primary-key order."""


@runtime_checkable
class SnapshotSource(Protocol):
    def snapshot(self) -> AbstractAsyncContextManager[Snapshot]:
        """A consistent snapshot for the block: SQLite one read transaction, Postgres ``REPEATABLE READ
        READ ONLY``, memory a copy of its dicts taken in one synchronous step. Concurrent writers go on."""


@runtime_checkable
class SnapshotWriter(Protocol):
    """One open write transaction over every table (see :meth:`SnapshotSink.restore`)."""

    schema_version: int

    @property
    def tables(self) -> Sequence[TableSpec]:
        """The backend's own tables and types, parents first."""

    async def is_empty(self) -> bool:
        """No table holds a row."""

    async def clear(self) -> None:
        """Delete every row of every table (children first)."""

    async def insert(self, table: str, columns: Sequence[tuple[str, ColumnType]],
                     rows: Sequence[Sequence[Encoded]]) -> None:
        """Insert ``rows`` (values in ``columns`` order, encoded as those declared types say) into
        ``table``, converting each value to the table's own type (:func:`converter`). A table or column the
        backend does not have, a value it cannot hold, or a constraint failure is an error; nothing the
        transaction wrote is kept then."""

    async def counts(self) -> dict[str, int]:
        """Rows per table as this transaction sees them."""


@runtime_checkable
class SnapshotSink(Protocol):
    def restore(self) -> AbstractAsyncContextManager[SnapshotWriter]:
        """A write transaction over every table: it commits when the block ends normally, and leaves the
        backend exactly as it was when the block raises. Other writers wait for it (SQL) or are excluded
        for its length (memory)."""


# --------------------------------------------------------------------------- encoding


def encode_timestamp(value: datetime) -> str:
    return value.astimezone(UTC).isoformat(timespec="microseconds")


def decode_timestamp(value: Encoded) -> datetime:
    if not isinstance(value, str):
        raise SnapshotError(f"a timestamp must be ISO 8601 text, not {type(value).__name__}")
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        raise SnapshotError(f"not an ISO 8601 timestamp: {value[:40]!r}") from None
    if parsed.tzinfo is None:
        raise SnapshotError(f"timestamp without a time zone: {value[:40]!r}")
    return parsed.astimezone(UTC)


def micros_of(value: datetime) -> int:
    """Epoch microseconds of an aware datetime (SQLite's storage of timestamps)."""
    delta = value.astimezone(UTC) - _EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def datetime_of_micros(value: int) -> datetime:
    return datetime.fromtimestamp(value // 1_000_000, UTC).replace(microsecond=value % 1_000_000)


def encode_value(kind: ColumnType, value: Any) -> Encoded:
    """A stored Python value (``datetime``, ``bytes``, ``bool``, ``int``, ``str``, JSON value) encoded as
    ``kind`` says."""
    if value is None:
        return None
    if kind == "timestamp":
        return encode_timestamp(value)
    if kind == "bytes":
        return base64.b64encode(bytes(value)).decode("ascii")
    if kind == "boolean":
        return bool(value)
    return value


def _wrong(kind: str, expected: str, value: Encoded) -> SnapshotError:
    return SnapshotError(f"a {kind} value must be {expected}, not {type(value).__name__}")


# The same-type conversions run once per value of a big import: plain type checks, no helper calls.
def _text(value: Encoded) -> str:
    if type(value) is not str:
        raise _wrong("text", "str", value)
    return value


def _integer(value: Encoded) -> int:
    if type(value) is not int:
        raise _wrong("integer", "int", value)
    return value


def _boolean(value: Encoded) -> bool:
    if type(value) is not bool:
        raise _wrong("boolean", "bool", value)
    return value


def _bytes(value: Encoded) -> bytes:
    if type(value) is not str:
        raise _wrong("bytes", "base64 text", value)
    try:
        return base64.b64decode(value, validate=True)
    except (binascii.Error, ValueError):
        raise SnapshotError("a bytes value must be base64 text") from None


def _int_to_bool(value: Encoded) -> bool:
    if _integer(value) not in (0, 1):
        raise SnapshotError(f"an integer loaded as a boolean must be 0 or 1, not {value}")
    return bool(value)


def _text_to_json(value: Encoded) -> Any:
    try:
        return json.loads(_text(value))
    except json.JSONDecodeError:
        raise SnapshotError("a text value loaded as JSON is not JSON") from None


def _json_to_text(value: Encoded) -> str:
    return json.dumps(value, separators=(",", ":"))


# (declared in the snapshot, the sink's own type) -> the stored Python value of the sink's type
_CONVERSIONS: dict[tuple[str, str], Callable[[Encoded], Any]] = {
    ("text", "text"): _text,
    ("integer", "integer"): _integer,
    ("boolean", "boolean"): _boolean,
    ("timestamp", "timestamp"): decode_timestamp,
    ("json", "json"): lambda value: value,
    ("bytes", "bytes"): _bytes,
    ("integer", "boolean"): _int_to_bool,
    ("boolean", "integer"): lambda value: int(_boolean(value)),
    ("integer", "timestamp"): lambda value: datetime_of_micros(_integer(value)),
    ("timestamp", "integer"): lambda value: micros_of(decode_timestamp(value)),
    ("text", "json"): _text_to_json,
    ("json", "text"): _json_to_text,
}


def _plain(declared: ColumnType, own: ColumnType, *, where: str) -> Callable[[Encoded], Any]:
    convert = _CONVERSIONS.get((declared, own))
    if convert is None:
        raise SnapshotError(f"{where}: a {declared} column cannot be loaded into a {own} column")
    return convert


def converter(declared: ColumnType, own: ColumnType, *, where: str) -> Callable[[Encoded], Any]:
    """The function that turns a value encoded as ``declared`` into the stored Python value of a column of
    type ``own`` (``None`` stays ``None``). ``where`` names the column in errors."""
    convert = _plain(declared, own, where=where)

    def run(value: Encoded) -> Any:
        if value is None:
            return None
        try:
            return convert(value)
        except (ValueError, OverflowError) as exc:  # SnapshotError is a ValueError; so is a bad date
            raise SnapshotError(f"{where}: {exc}") from None

    return run


def row_converter(spec: TableSpec, columns: Sequence[tuple[str, ColumnType]]
                  ) -> Callable[[Sequence[Encoded]], list[Any]]:
    """Convert rows given in ``columns`` order (as declared by a snapshot) to ``spec``'s own types
    (:func:`converter` for each value, without a wrapper per value: a failure is located afterwards).
    Unknown columns are a :class:`SnapshotError`."""
    own = spec.types
    unknown = [name for name, _ in columns if name not in own]
    if unknown:
        raise SnapshotError(f"table {spec.name} has no column {', '.join(unknown)}")
    for name, kind in columns:
        if kind not in COLUMN_TYPES:
            raise SnapshotError(f"{spec.name}.{name}: unknown column type {kind!r}")
    funcs = [_plain(kind, own[name], where=f"{spec.name}.{name}") for name, kind in columns]
    checked = [converter(kind, own[name], where=f"{spec.name}.{name}") for name, kind in columns]

    def convert(row: Sequence[Encoded]) -> list[Any]:
        if len(row) != len(funcs):
            raise SnapshotError(f"{spec.name}: a row of {len(row)} values for {len(funcs)} columns")
        try:
            return [None if v is None else f(v) for f, v in zip(funcs, row, strict=True)]
        except (ValueError, OverflowError):
            return [f(v) for f, v in zip(checked, row, strict=True)]  # raises again, naming the column

    return convert


def convert_rows(convert: Callable[[Sequence[Encoded]], list[Any]], rows: Sequence[Sequence[Encoded]]
                 ) -> list[list[Any]]:
    """``convert`` applied to each row; a :class:`SnapshotError` says which row (``.row``)."""
    out: list[list[Any]] = []
    for index, row in enumerate(rows):
        try:
            out.append(convert(row))
        except SnapshotError as exc:
            exc.row = index
            raise
    return out
