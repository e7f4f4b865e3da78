"""Small file operations both commands need: private creation, fsync, companions, no-clobber install."""

from __future__ import annotations

import contextlib
import os
import shutil
from pathlib import Path

from localcore.backups.checks import BackupError

PRIVATE_FILE_MODE = 0o600
#: SQLite's companion files: the write-ahead log, its shared-memory index, the rollback journal.
COMPANIONS = ("-wal", "-shm", "-journal")


def companion(path: Path, suffix: str) -> Path:
    return path.with_name(path.name + suffix)


def create_private(path: Path) -> None:
    """Create ``path`` empty and owner-only; fail if it exists."""
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, PRIVATE_FILE_MODE))


def make_private(path: Path) -> None:
    with contextlib.suppress(FileNotFoundError):
        path.chmod(PRIVATE_FILE_MODE)


def fsync_file(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def fsync_dir(path: Path) -> None:
    """Make a rename in ``path`` durable (a no-op where directories cannot be opened)."""
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:
        return
    try:
        with contextlib.suppress(OSError):
            os.fsync(fd)
    finally:
        os.close(fd)


def remove_with_companions(path: Path) -> None:
    for file in (path, *(companion(path, suffix) for suffix in COMPANIONS)):
        with contextlib.suppress(FileNotFoundError):
            file.unlink()


def is_database_or_companion(candidate: Path, database: Path) -> bool:
    names = {database.absolute(), *(companion(database.absolute(), s) for s in COMPANIONS)}
    if candidate.absolute() in names:
        return True
    with contextlib.suppress(OSError):
        return any(n.exists() and candidate.exists() and os.path.samefile(candidate, n) for n in names)
    return False


def install_new(staged: Path, target: Path) -> None:
    """Give ``staged`` the name ``target`` unless something already has it (atomic where hard links work)."""
    try:
        os.link(staged, target)
    except FileExistsError:
        raise BackupError(f"{target} exists (it appeared while the copy was being made)") from None
    except OSError:  # a filesystem without hard links (FAT, some network shares)
        if target.exists():
            raise BackupError(f"{target} exists (it appeared while the copy was being made)") from None
        os.replace(staged, target)
    else:
        staged.unlink()


def keep_as(source: Path, kept: Path) -> None:
    """``kept`` becomes another name of ``source`` (a hard link), or a copy where links are not possible."""
    try:
        os.link(source, kept)
    except OSError:
        shutil.copyfile(source, kept)
        fsync_file(kept)
    make_private(kept)
