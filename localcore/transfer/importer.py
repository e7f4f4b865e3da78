"""Import: a file written by :mod:`.export` loaded into a backend in one transaction, then checked.

Order of checks (the first failure raises ``TransferError``, with the file's line number where there is
one, and the target is left exactly as it was):

1. the header (line 1): a localcore export, a format version this code reads, a schema version no newer
   than the target's, tables the target has;
2. the target is empty, or ``replace`` was asked for (then everything in it is deleted, in the same
   transaction as the load);
3. every line: a row of a table in the header, with that table's columns, whose values the target can
   hold (the target converts each value to its own column type; constraint failures name the lines of
   the batch);
4. the trailer: present (else the file is truncated), the rows per table and the sha256 of every line
   before it, per table and overall, match (else the file was changed);
5. the ledger identities (:mod:`.verify`) over the rows read, and the target's own row counts;
6. commit; then every ledger user's balance is read back through the target's ``MeteringStore``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from localcore.contract.backend import Backend
from localcore.contract.errors import StoreError
from localcore.contract.snapshot import BATCH_ROWS, SnapshotError, SnapshotSink, SnapshotWriter, TableSpec
from localcore.transfer.format import Header, LineReader, TransferError
from localcore.transfer.verify import LedgerCheck, check_balances

#: Called with how many more bytes of the file were read.
Progress = Callable[[int], None]


class TargetNotEmpty(TransferError):
    """The target holds rows and ``replace`` was not asked for."""


@dataclass(frozen=True)
class ImportResult:
    header: Header
    counts: dict[str, int]
    target_schema_version: int
    replaced: bool
    balances_checked: int

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def _no_progress(count: int) -> None:
    """No progress bar."""


@dataclass
class _Batch:
    spec: TableSpec | None = None
    first_line: int = 0
    rows: list[list[Any]] = field(default_factory=list)


async def _flush(writer: SnapshotWriter, batch: _Batch) -> None:
    if batch.spec is None or not batch.rows:
        return
    try:
        await writer.insert(batch.spec.name, batch.spec.columns, batch.rows)
    except SnapshotError as exc:
        raise TransferError(str(exc), batch.first_line + (exc.row or 0)) from None
    except StoreError as exc:  # a constraint: the driver does not say which row of the batch
        last = batch.first_line + len(batch.rows) - 1
        raise TransferError(f"{batch.spec.name}, one of lines {batch.first_line}-{last}: {exc}",
                            batch.first_line) from None
    batch.rows.clear()


def _check_header(header: Header, writer: SnapshotWriter) -> None:
    if header.schema_version > writer.schema_version:
        raise TransferError(f"the file's schema version {header.schema_version} is newer than this "
                            f"localcore's ({writer.schema_version}): import it with a newer localcore", 1)
    own = {t.name for t in writer.tables}
    unknown = [t.name for t in header.tables if t.name not in own]
    if unknown:
        raise TransferError(f"the target has no table {', '.join(unknown)}", 1)


def _check_trailer(trailer: dict[str, Any], line: int, counts: dict[str, int], reader: LineReader,
                   table_digests: dict[str, Any], lines: dict[str, list[int]]) -> None:
    if trailer.get("counts") != counts or trailer.get("rows") != sum(counts.values()):
        raise TransferError(f"the trailer's row counts {trailer.get('counts')} differ from the rows in the file "
                            f"{counts} (truncated or changed)", line)
    expected = trailer.get("tables") or {}
    for name, digest in table_digests.items():
        if expected.get(name) != digest.hexdigest():
            first, last = lines[name]
            raise TransferError(f"the rows of {name} (lines {first}-{last}) do not match the trailer's checksum: "
                                "one of them was changed", first)
    if trailer.get("sha256") != reader.digest.hexdigest():
        raise TransferError("the file does not match the trailer's sha256: it was changed", line)


async def import_from(target: Backend, stream: IO[bytes], *, replace: bool = False,
                      progress: Progress = _no_progress, now: datetime | None = None) -> ImportResult:
    """Load the export in ``stream`` into ``target`` (see the module docstring for the checks)."""
    if not isinstance(target, SnapshotSink):
        raise TransferError(f"the {target.kind} backend cannot be imported into")
    reader = LineReader(stream)
    header = reader.header()
    specs = {t.name: t for t in header.tables}
    counts = {t.name: 0 for t in header.tables}
    digests: dict[str, Any] = {}
    table_lines: dict[str, list[int]] = {}  # first and last line of each table's rows
    ledger = LedgerCheck()
    batch = _Batch()
    read = reader.bytes_read
    async with target.restore() as writer:
        _check_header(header, writer)
        if not await writer.is_empty():
            if not replace:
                raise TargetNotEmpty("the target is not empty: import only into an empty database, or give "
                                     "--replace to delete everything in it first")
            await writer.clear()
        for line in reader.lines():
            if line.trailer is not None:
                await _flush(writer, batch)
                _check_trailer(line.trailer, line.number, counts, reader, digests, table_lines)
                break
            assert line.table is not None and line.row is not None
            spec = specs.get(line.table)
            if spec is None:
                raise TransferError(f"table {line.table!r} is not in the header", line.number)
            if batch.spec is not spec or len(batch.rows) >= BATCH_ROWS:
                await _flush(writer, batch)
                batch.spec, batch.first_line = spec, line.number
            try:
                batch.rows.append([line.row[name] for name, _ in spec.columns])
            except KeyError as exc:
                raise TransferError(f"a {spec.name} row without column {exc}", line.number) from None
            if len(line.row) != len(spec.columns):
                raise TransferError(f"a {spec.name} row with columns the header does not list", line.number)
            if spec.name not in digests:
                digests[spec.name], table_lines[spec.name] = hashlib.sha256(), [line.number, line.number]
            digests[spec.name].update(reader.last_line)
            table_lines[spec.name][1] = line.number
            counts[spec.name] += 1
            ledger.add(spec.name, line.row, line.number)
            if line.number % 1_000 == 0:
                progress(reader.bytes_read - read)
                read = reader.bytes_read
        progress(reader.bytes_read - read)
        ledger.check()
        stored = await writer.counts()
        wrong = {name: n for name, n in stored.items() if n != counts.get(name, 0)}
        if wrong:
            raise TransferError(f"after loading, the target counts {wrong} rows, the file has "
                                f"{ {name: counts.get(name, 0) for name in wrong} }")
        target_version = writer.schema_version
    checked = await check_balances(target, ledger, now or datetime.now(UTC))
    return ImportResult(header, counts, target_version, replace, checked)


def _open(path: Path) -> IO[bytes]:
    return path.expanduser().open("rb", buffering=1 << 20)


async def import_file(target: Backend, path: Path, *, replace: bool = False,
                      progress: Progress = _no_progress) -> ImportResult:
    with _open(path) as stream:
        return await import_from(target, stream, replace=replace, progress=progress)
