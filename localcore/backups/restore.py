"""Put a backup in place of a stopped data directory's database (see the package docstring).

Order, so that a refusal changes nothing and a crash leaves either the old or the new database:

1. ``FILE`` must be a plain file with a SQLite header and no live ``-wal`` beside it; the database must
   not be open in any process (:func:`locks.holder`); an earlier ``.before-restore`` is kept unless
   ``--force``.
2. ``FILE`` is copied to a private (``0600``) file next to the database, fsynced, and the copy is verified
   (:func:`checks.verify`) and made a self-contained rollback-journal file. A refusal removes the copy.
3. Under ``<database>.lock`` (exclusive) and SQLite's own lock bytes of the database (exclusive, not
   waiting: this is the check that no server has it open, and while it is held nobody can open it):
   the database becomes ``<name>.before-restore`` (a hard link; its ``-wal`` and ``-journal``, if any, are
   kept beside it under the same new name), the live name's ``-wal``/``-shm``/``-journal`` are removed
   (a stale ``-wal`` would otherwise be replayed onto the restored file), and the copy is renamed over
   the database; the directory is fsynced.
4. A kept ``-wal`` is folded into ``<name>.before-restore`` so that it, too, is one file.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import sqlite3
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

from localcore.backups import locks
from localcore.backups.checks import BackupError, DatabaseReport, expected_size, has_sqlite_header, verify
from localcore.backups.files import (
    COMPANIONS,
    companion,
    create_private,
    fsync_dir,
    fsync_file,
    is_database_or_companion,
    keep_as,
    make_private,
    remove_with_companions,
)

BEFORE_RESTORE_SUFFIX = ".before-restore"
#: How long a restore waits for a server to release ``<database>.lock`` (it never waits for SQLite's lock).
SERVER_LOCK_WAIT_SECONDS = 0.0


@dataclass(frozen=True, slots=True)
class RestoreResult:
    report: DatabaseReport
    previous: Path | None
    notes: list[str] = field(default_factory=list)


def before_restore_path(database: Path) -> Path:
    return database.with_name(database.name + BEFORE_RESTORE_SUFFIX)


def in_use_message(database: Path, holder: locks.Holder) -> str:
    return (f"the database {database} is open in {holder.describe()} (a running localcore server or another "
            "localcore command): stop it first (Ctrl+C or SIGTERM), then run restore again")


def check_source(source: Path, database: Path) -> None:
    if not source.exists():
        raise BackupError(f"{source} does not exist")
    if not source.is_file():
        raise BackupError(f"{source} is not a file")
    if is_database_or_companion(source, database):
        raise BackupError(f"{source} is the database being restored into")
    wal = companion(source, "-wal")
    if wal.exists() and wal.stat().st_size > 0:
        raise BackupError(f"{source} has a -wal file beside it: it is a live database, not a backup (make a "
                          "backup of it with `python -m localcore backup`, then restore that)")
    if source.stat().st_size == 0:
        raise BackupError(f"{source} is empty")
    if not has_sqlite_header(source):
        raise BackupError(f"{source} is not a SQLite database (no SQLite header)")
    expected, size = expected_size(source), source.stat().st_size
    if expected is not None and size < expected:
        raise BackupError(f"{source} is truncated: its header says {expected} bytes, the file has {size}")


def refuse_if_in_use(database: Path) -> None:
    holder = locks.holder(database)
    if holder is not None:
        raise BackupError(in_use_message(database, holder))


def restore_sqlite(source: Path, database: Path, *, force: bool = False) -> RestoreResult:
    """Restore the backup ``source`` as the SQLite database ``database``; see the module docstring."""
    source, database = source.expanduser().absolute(), database.absolute()
    check_source(source, database)
    refuse_if_in_use(database)
    previous = before_restore_path(database)
    if not force and any(p.exists() for p in (previous, *(companion(previous, s) for s in COMPANIONS))):
        raise BackupError(f"{previous} exists (kept by an earlier restore): move it away first, or pass --force "
                          "to replace it with the current database")
    database.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    staged = database.with_name(f".{database.name}.restore-{os.getpid()}")
    remove_with_companions(staged)
    create_private(staged)
    try:
        with source.open("rb") as reader, staged.open("wb") as writer:
            shutil.copyfileobj(reader, writer, 1024 * 1024)
        report = _verify_staged(staged, source)
        fsync_file(staged)
        with _locked(database):
            kept = _swap(staged, database, previous, force=force)
    except BaseException:
        remove_with_companions(staged)
        raise
    notes = _fold_kept_wal(previous) if kept else []
    make_private(database)
    final = DatabaseReport(database, database.stat().st_size, report.schema_version, report.newest_known,
                           report.counts, report.warnings)
    return RestoreResult(final, previous if kept else None, notes)


def _verify_staged(staged: Path, source: Path) -> DatabaseReport:
    try:
        conn = sqlite3.connect(f"{staged.as_uri()}?mode=rw", uri=True, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"{source} cannot be opened as a SQLite database ({exc})") from None
    try:
        try:
            report = verify(conn, staged)
        except BackupError as exc:
            raise BackupError(f"{source}: {exc}") from None
        try:
            conn.execute("PRAGMA journal_mode = DELETE").fetchall()  # one file; the server turns WAL on again
        except sqlite3.Error as exc:
            raise BackupError(f"{source} cannot be prepared for restoring ({exc})") from None
    finally:
        conn.close()
    return report


@contextlib.contextmanager
def _locked(database: Path) -> Iterator[None]:
    """``<database>.lock`` and SQLite's lock bytes of ``database``, both exclusive, neither waited for."""
    try:
        with locks.server_lock(database, shared=False, wait_seconds=SERVER_LOCK_WAIT_SECONDS):
            if not database.exists():
                yield
                return
            with locks.exclusive(database):
                yield
    except locks.InUse as exc:
        raise BackupError(in_use_message(database, exc.holder)) from None


def _swap(staged: Path, database: Path, previous: Path, *, force: bool) -> bool:
    """Keep the current database as ``previous`` and rename ``staged`` over it; True if there was one."""
    if force:
        remove_with_companions(previous)
    exists = database.exists()
    if exists:
        keep_as(database, previous)
        for suffix in ("-wal", "-journal"):
            live = companion(database, suffix)
            if live.exists():
                keep_as(live, companion(previous, suffix))
    for suffix in COMPANIONS:
        with contextlib.suppress(FileNotFoundError):
            companion(database, suffix).unlink()
    if exists:
        os.replace(staged, database)
    else:
        try:
            os.link(staged, database)
        except FileExistsError:
            raise BackupError(f"{database} appeared while the backup was being checked (a server "
                              "starting?)") from None
        except OSError:
            os.replace(staged, database)
        else:
            staged.unlink()
    fsync_dir(database.parent)
    return exists


def _fold_kept_wal(previous: Path) -> list[str]:
    """Checkpoint the kept ``-wal`` into ``previous`` (nobody else knows that file)."""
    if not companion(previous, "-wal").exists():
        return []
    try:
        conn = sqlite3.connect(f"{previous.as_uri()}?mode=rw", uri=True, isolation_level=None)
        try:
            conn.execute("PRAGMA journal_mode = DELETE").fetchall()
        finally:
            conn.close()
    except sqlite3.Error as exc:
        return [f"the previous database's -wal could not be folded into {previous.name} ({exc}); both files "
                f"are kept: open {previous.name} with its {previous.name}-wal beside it"]
    for suffix in COMPANIONS:
        make_private(companion(previous, suffix))
    return []
