"""``python -m localcore export FILE [--force]`` and ``import FILE [--replace]``.

The backend is the configured one, chosen as for the server (``--database-url``, ``DATABASE_URL``,
``CORE_STORES``, ``[server] database_url``). A progress bar goes to stderr when stderr is a terminal.

``memory://`` exists only inside one process: exporting it from the command line would export a fresh,
empty backend, and importing into it would vanish when the command exits, so both say so and stop (exit
2). In-process, use ``localcore.transfer.export_to`` / ``import_from`` on a ``MemoryBackend``.

Exit codes: 0 done; 1 refused or failed (the message says why, with the file's line number where there
is one; nothing was written); 2 not possible on this backend.
"""

from __future__ import annotations

import argparse
import sys
import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from pathlib import Path

from localcore.config import Config

NOT_ON_THIS_BACKEND = 2


def add_export_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the export to write (JSON lines, 0600)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")


def add_import_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a file written by `python -m localcore export`")
    parser.add_argument("--replace", action="store_true",
                        help="delete everything in the target first (in the same transaction as the load)")


@contextmanager
def _progress(description: str, *, total: int | None, unit: str) -> Iterator[Callable[[int], None]]:
    """A tqdm bar on stderr when it is a terminal; otherwise nothing."""
    if not sys.stderr.isatty():
        yield lambda n: None
        return
    from tqdm import tqdm

    with tqdm(total=total, unit=unit, unit_scale=True, desc=description, file=sys.stderr, leave=False) as bar:
        def advance(count: int) -> None:
            bar.update(count)

        yield advance


def _memory(command: str) -> int:
    where = "export from" if command == "export" else "import into"
    print(f"{command}: the configured backend is memory://, which exists only inside one process: there is "
          f"nothing to {where} from the command line (a new one is empty, and it vanishes when the command "
          "exits). Choose SQLite or Postgres with --database-url or DATABASE_URL; in-process, use "
          "localcore.transfer.export_to / import_from.", file=sys.stderr)
    return NOT_ON_THIS_BACKEND


def _is_memory(config: Config) -> bool:
    return config.database_url.split(":", 1)[0].lower() == "memory"


async def run_export(args: argparse.Namespace, config: Config) -> int:
    from backends import open_backend
    from backends.registry import describe
    from localcore.contract.snapshot import SnapshotSource
    from localcore.transfer.export import export_file
    from localcore.transfer.format import TransferError

    if _is_memory(config):
        return _memory("export")
    started = time.perf_counter()
    try:
        async with await open_backend(config.database_url) as backend:
            assert isinstance(backend, SnapshotSource)
            with _progress("export", total=None, unit=" rows") as progress:
                result = await export_file(backend, Path(args.file), backend=backend.kind, force=args.force,
                                           progress=progress)
    except (TransferError, OSError) as exc:
        print(f"export: {exc}. Nothing was written.", file=sys.stderr)
        return 1
    print(f"exported {describe(config.database_url)} to {result.path} (schema version {result.schema_version}, "
          f"{result.rows:,} rows in {time.perf_counter() - started:.2f} s; file mode 0600; "
          f"sha256 {result.sha256[:16]}…)")
    for name, count in result.counts.items():
        print(f"  {name}: {count:,}")
    print("  it holds email addresses, password hashes and encrypted workspace settings: keep it private, and "
          "keep WORKSPACE_SETTINGS_ENCRYPTION_KEY with it")
    return 0


def _size(path: Path) -> int:
    return path.expanduser().stat().st_size


async def run_import(args: argparse.Namespace, config: Config) -> int:
    from backends import open_backend
    from backends.registry import describe
    from localcore.transfer.format import TransferError
    from localcore.transfer.importer import import_file

    if _is_memory(config):
        return _memory("import")
    path = Path(args.file)
    started = time.perf_counter()
    try:
        size = _size(path)
        async with await open_backend(config.database_url) as backend:
            with _progress("import", total=size, unit="B") as progress:
                result = await import_file(backend, path, replace=args.replace, progress=progress)
    except (TransferError, OSError) as exc:
        print(f"import: refused: {args.file}: {exc}. Nothing was changed.", file=sys.stderr)
        return 1
    header = result.header
    print(f"imported {path} ({header.backend}, schema version {header.schema_version}, exported "
          f"{header.exported_at}) into {describe(config.database_url)}"
          f"{' (replacing everything it held)' if result.replaced else ''}: {result.rows:,} rows in "
          f"{time.perf_counter() - started:.2f} s")
    for name, count in result.counts.items():
        print(f"  {name}: {count:,}")
    print(f"  verified: the checksums, the row counts of every table and the ledger identities; "
          f"{result.balances_checked:,} balances read back equal")
    print("  start the server on it with the same WORKSPACE_SETTINGS_ENCRYPTION_KEY (and BETTER_AUTH_SECRET) "
          "as the source: passwords and balances came along, workspace settings open only with their key")
    return 0


EXPORT_COMMAND = (add_export_arguments, run_export)
IMPORT_COMMAND = (add_import_arguments, run_import)
