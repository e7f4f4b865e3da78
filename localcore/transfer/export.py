"""Export: one snapshot of a backend, streamed table by table into the JSON-lines file (:mod:`.format`)."""

from __future__ import annotations

import contextlib
import hashlib
import os
from collections.abc import Callable
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import IO, Any

from localcore.contract.snapshot import SnapshotSource, encode_timestamp
from localcore.transfer.format import Header, Trailer, TransferError, encode_line

#: Called with how many more rows were written (a progress bar, or nothing).
Progress = Callable[[int], None]


@dataclass(frozen=True)
class ExportResult:
    path: Path | None
    schema_version: int
    counts: dict[str, int]
    sha256: str

    @property
    def rows(self) -> int:
        return sum(self.counts.values())


def _no_progress(rows: int) -> None:
    """No progress bar."""


async def export_to(source: SnapshotSource, out: IO[bytes], *, backend: str,
                    progress: Progress = _no_progress) -> ExportResult:
    """Write every table of ``source``, as one moment, to ``out``. Memory stays flat: rows go out a batch at
    a time."""
    digest = hashlib.sha256()
    counts: dict[str, int] = {}
    tables: dict[str, Any] = {}
    async with source.snapshot() as snapshot:
        header = Header(snapshot.schema_version, backend, encode_timestamp(datetime.now(UTC)),
                        tuple(snapshot.tables))
        line = encode_line(header.to_json())
        digest.update(line)
        out.write(line)
        for table in snapshot.tables:
            counts[table.name] = 0
            table_digest = tables[table.name] = hashlib.sha256()
            async for batch in snapshot.rows(table.name):
                chunk = b"".join(encode_line({"t": table.name, "r": row}) for row in batch)
                digest.update(chunk)
                table_digest.update(chunk)
                out.write(chunk)
                counts[table.name] += len(batch)
                progress(len(batch))
    trailer = Trailer(sum(counts.values()), counts,
                      {name: d.hexdigest() for name, d in tables.items() if counts[name]}, digest.hexdigest())
    out.write(encode_line(trailer.to_json()))
    return ExportResult(None, header.schema_version, counts, trailer.sha256)


def _open_partial(path: Path, force: bool) -> tuple[Path, Path, IO[bytes]]:
    path = path.expanduser().absolute()
    if path.exists() and not force:
        raise TransferError(f"{path} exists (use --force to replace it)")
    partial = path.with_name(f".{path.name}.partial-{os.getpid()}")
    fd = os.open(partial, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    return path, partial, os.fdopen(fd, "wb", buffering=1 << 20)


def _discard(partial: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        partial.unlink()


async def export_file(source: SnapshotSource, path: Path, *, backend: str, force: bool = False,
                      progress: Progress = _no_progress) -> ExportResult:
    """Export into ``path`` (``0600``): written beside it under a temporary name, fsynced and renamed into
    place, so a failed export leaves no file. An existing ``path`` is refused unless ``force``."""
    path, partial, out = _open_partial(path, force)
    try:
        with out:
            result = await export_to(source, out, backend=backend, progress=progress)
            out.flush()
            os.fsync(out.fileno())
        os.replace(partial, path)
    except BaseException:
        _discard(partial)
        raise
    return ExportResult(path, result.schema_version, result.counts, result.sha256)
