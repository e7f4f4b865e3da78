"""An online, consistent copy of a live SQLite database (see the package docstring).

The source connection opens one read transaction, and the sqlite3 backup API copies the database from
that snapshot in steps of :data:`STEP_PAGES` pages. Because the same transaction spans every step, the
backup never sees (and never restarts for) a commit made meanwhile by the server; because the database is
in WAL mode, the server's writers and checkpoints never wait for it. ``--step-pause`` sleeps between
steps, for a gentler load on a busy disk.
"""

from __future__ import annotations

import os
import sqlite3
import time
from dataclasses import dataclass
from pathlib import Path

from localcore.backups.checks import BackupError, DatabaseReport, verify
from localcore.backups.files import (
    create_private,
    fsync_dir,
    fsync_file,
    install_new,
    is_database_or_companion,
    make_private,
    remove_with_companions,
)

STEP_PAGES = 1000
SOURCE_BUSY_TIMEOUT_SECONDS = 5.0


@dataclass(frozen=True, slots=True)
class BackupResult:
    report: DatabaseReport
    steps: int
    seconds: float


def check_target(database: Path, target: Path, *, force: bool) -> None:
    if not database.is_file():
        raise BackupError(f"there is no database at {database}: nothing to back up (a server creates it "
                          "on its first start)")
    if target.is_dir():
        raise BackupError(f"{target} is a folder: name the backup file, e.g. {target / 'localcore-backup.db'}")
    if not target.parent.is_dir():
        raise BackupError(f"the folder {target.parent} does not exist")
    if is_database_or_companion(target, database):
        raise BackupError(f"{target} is the live database (or one of its files): choose another name")
    if target.exists() and not force:
        raise BackupError(f"{target} exists: choose a new name, or pass --force to replace it")


def backup_sqlite(database: Path, target: Path, *, force: bool = False, step_pause: float = 0.0) -> BackupResult:
    """Copy the live database ``database`` to the new file ``target``, verified; see the module docstring."""
    database, target = database.absolute(), target.expanduser().absolute()
    check_target(database, target, force=force)
    staged = target.with_name(f".{target.name}.partial-{os.getpid()}")
    remove_with_companions(staged)  # a leftover of an interrupted run with our pid
    create_private(staged)
    started = time.monotonic()
    try:
        steps = _copy(database, staged, step_pause)
        report = _seal(staged)
        make_private(staged)
        if force:
            os.replace(staged, target)
        else:
            install_new(staged, target)
        fsync_dir(target.parent)
    except BaseException:
        remove_with_companions(staged)
        raise
    final = DatabaseReport(target, target.stat().st_size, report.schema_version, report.newest_known,
                           report.counts, report.warnings)
    return BackupResult(final, steps, time.monotonic() - started)


def _copy(database: Path, staged: Path, step_pause: float) -> int:
    """The snapshot copy; returns the number of steps it took."""
    try:
        # mode=rw: never create a database that is not there.
        source = sqlite3.connect(f"{database.as_uri()}?mode=rw", uri=True, isolation_level=None,
                                 timeout=SOURCE_BUSY_TIMEOUT_SECONDS)
    except sqlite3.Error as exc:
        raise BackupError(f"cannot open {database}: {exc}") from None
    steps = 0

    def progress(status: int, remaining: int, total: int) -> None:
        nonlocal steps
        steps += 1
        if step_pause > 0 and remaining > 0:
            time.sleep(step_pause)

    try:
        source.execute("PRAGMA query_only = ON")
        wal = str(source.execute("PRAGMA journal_mode").fetchone()[0]).lower() == "wal"
        source.execute("BEGIN")
        source.execute("SELECT count(*) FROM sqlite_master").fetchone()  # the snapshot is taken here
        target = sqlite3.connect(staged, isolation_level=None)
        try:
            # Outside WAL mode a reader does hold writers off: copy it all in one step, as briefly as possible.
            source.backup(target, pages=STEP_PAGES if wal else -1, progress=progress)
        finally:
            target.close()
        source.execute("COMMIT")
    except sqlite3.Error as exc:
        raise BackupError(f"copying {database} failed: {exc}") from None
    finally:
        source.close()
    return steps


def _seal(staged: Path) -> DatabaseReport:
    """Turn the copy into a self-contained rollback-journal file (the copied header says WAL), check it and
    flush it to disk."""
    try:
        conn = sqlite3.connect(staged, isolation_level=None)
    except sqlite3.Error as exc:
        raise BackupError(f"the copy cannot be opened: {exc}") from None
    try:
        try:
            conn.execute("PRAGMA journal_mode = DELETE").fetchall()
        except sqlite3.Error as exc:
            raise BackupError(f"the copy cannot be opened: {exc}") from None
        try:
            report = verify(conn, staged)
        except BackupError as exc:
            raise BackupError(f"the copy failed its checks, so no backup was written: {exc}") from None
    finally:
        conn.close()
    fsync_file(staged)
    return report
