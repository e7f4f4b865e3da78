"""The export file: versioned JSON lines, one object per line, UTF-8, ``\\n``-terminated.

Line 1, the header::

    {"format": "localcore-export", "version": 1, "schemaVersion": 3, "backend": "sqlite",
     "exportedAt": "2025-06-01T12:00:00.000000+00:00",
     "tables": [{"name": "users", "columns": [["id", "text"], ...], "key": ["id"]}, ...]}

``tables`` lists every table of the source, parents first, with each column's declared type (values are
encoded as ``localcore.contract.snapshot`` says: timestamps ISO 8601, bytes base64, JSON as itself).
Then one line per row, tagged with its table, the rows of a table together, tables in header order::

    {"t": "users", "r": {"id": "…", "email": "…", "email_verified": true, …}}

Last, the trailer::

    {"end": {"rows": 1234, "counts": {"users": 10, …}, "tables": {"users": "<hex>", …}, "sha256": "<hex>"}}

``sha256`` is over the exact bytes of every line before the trailer (newlines included), ``tables`` over
each table's row lines, so a truncated file (no trailer), a changed line (and which table's lines) or a
changed count is found before anything is committed. Password hashes
and workspace-settings ciphertext are in the file as the database holds them (argon2id hashes; AES-GCM
ciphertext that opens only with the settings key); sessions and one-time tokens are only their SHA-256
hashes, as stored. The file is private data all the same: it is written ``0600``.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import IO, Any

from localcore.contract.snapshot import COLUMN_TYPES, ColumnType, TableSpec

FORMAT_NAME = "localcore-export"
FORMAT_VERSION = 1
KNOWN_VERSIONS = frozenset({FORMAT_VERSION})


class TransferError(Exception):
    """A file that cannot be imported, or a target that refuses it; ``line`` is 1-based when known."""

    def __init__(self, message: str, line: int | None = None) -> None:
        super().__init__(f"line {line}: {message}" if line is not None else message)
        self.line = line


@dataclass(frozen=True)
class Header:
    schema_version: int
    backend: str
    exported_at: str
    tables: tuple[TableSpec, ...]
    version: int = FORMAT_VERSION

    def to_json(self) -> dict[str, Any]:
        return {"format": FORMAT_NAME, "version": self.version, "schemaVersion": self.schema_version,
                "backend": self.backend, "exportedAt": self.exported_at,
                "tables": [{"name": t.name, "columns": [list(c) for c in t.columns], "key": list(t.key)}
                           for t in self.tables]}


@dataclass
class Trailer:
    rows: int
    counts: dict[str, int]
    tables: dict[str, str]
    sha256: str

    def to_json(self) -> dict[str, Any]:
        return {"end": {"rows": self.rows, "counts": self.counts, "tables": self.tables, "sha256": self.sha256}}


def encode_line(obj: dict[str, Any]) -> bytes:
    return json.dumps(obj, ensure_ascii=False, separators=(",", ":"), allow_nan=False).encode() + b"\n"


def _table(raw: Any) -> TableSpec:
    name, columns, key = raw["name"], raw["columns"], raw["key"]
    if not isinstance(name, str) or not isinstance(columns, list) or not isinstance(key, list):
        raise ValueError("a table needs a name, columns and a key")
    parsed: list[tuple[str, ColumnType]] = []
    for column in columns:
        col, kind = column
        if not isinstance(col, str) or kind not in COLUMN_TYPES:
            raise ValueError(f"table {name}: bad column {column!r}")
        parsed.append((col, kind))
    return TableSpec(name, tuple(parsed), tuple(str(k) for k in key))


def parse_header(line: bytes) -> Header:
    """The header, or ``TransferError`` (line 1) saying what is wrong with it."""
    try:
        raw = json.loads(line)
    except (json.JSONDecodeError, UnicodeDecodeError):
        raise TransferError("not a localcore export (the header is not JSON)", 1) from None
    if not isinstance(raw, dict) or raw.get("format") != FORMAT_NAME:
        raise TransferError(f"not a localcore export (no \"format\": \"{FORMAT_NAME}\" header)", 1)
    version = raw.get("version")
    if version not in KNOWN_VERSIONS:
        raise TransferError(f"export format version {version!r} is not one this localcore reads "
                            f"({', '.join(map(str, sorted(KNOWN_VERSIONS)))})", 1)
    schema = raw.get("schemaVersion")
    if not isinstance(schema, int) or isinstance(schema, bool) or schema < 0:
        raise TransferError("the header has no schemaVersion", 1)
    try:
        tables = tuple(_table(t) for t in raw["tables"])
    except (KeyError, TypeError, ValueError) as exc:
        raise TransferError(f"the header's table list is malformed ({exc})", 1) from None
    if len({t.name for t in tables}) != len(tables):
        raise TransferError("the header names a table twice", 1)
    return Header(schema, str(raw.get("backend", "")), str(raw.get("exportedAt", "")), tables, version)


@dataclass
class Line:
    number: int
    table: str | None  # None for the trailer
    row: dict[str, Any] | None = None
    trailer: dict[str, Any] | None = None


@dataclass
class LineReader:
    """Reads the file after its header: rows, then the trailer, hashing as it goes."""

    stream: IO[bytes]
    digest: Any = field(default_factory=hashlib.sha256)
    number: int = 0
    bytes_read: int = 0
    last_line: bytes = b""

    def header(self) -> Header:
        first = self._next()
        if first is None:
            raise TransferError("the file is empty", 1)
        self.digest.update(first)
        return parse_header(first)

    def _next(self) -> bytes | None:
        line = self.stream.readline()
        if not line:
            return None
        self.number += 1
        self.bytes_read += len(line)
        if not line.endswith(b"\n"):
            raise TransferError("the file ends in the middle of a line (truncated)", self.number)
        return line

    def lines(self) -> Iterator[Line]:
        """Each row line, then the trailer line (its ``trailer`` set); ``TransferError`` on anything else."""
        while True:
            raw = self._next()
            if raw is None:
                raise TransferError("the file ends before its trailer (truncated)", self.number + 1)
            try:
                obj = json.loads(raw)
            except (json.JSONDecodeError, UnicodeDecodeError):
                raise TransferError("not a JSON line", self.number) from None
            if isinstance(obj, dict) and "end" in obj and isinstance(obj["end"], dict):
                yield Line(self.number, None, trailer=obj["end"])
                if self._next() is not None:
                    raise TransferError("lines after the trailer", self.number)
                return
            if not (isinstance(obj, dict) and isinstance(obj.get("t"), str) and isinstance(obj.get("r"), dict)):
                raise TransferError('a row line must be {"t": TABLE, "r": {COLUMN: VALUE, …}}', self.number)
            self.digest.update(raw)
            self.last_line = raw
            yield Line(self.number, obj["t"], row=obj["r"])
