"""Is a SQLite database in use by another process, and keeping every process out while it is replaced.

SQLite's unix VFS locks byte ranges of the database file with POSIX ``fcntl`` locks: a SHARED lock is a
read lock on the 510 bytes at ``PENDING_BYTE + 2``; RESERVED, PENDING and EXCLUSIVE are write locks in the
same 512-byte region (``PENDING_BYTE`` = 0x40000000, past the data: the bytes need not exist). In WAL
mode a connection keeps its SHARED lock for as long as it is open, not only during a read, so every
localcore server (its writer and its reader connection, idle or busy, each ``--workers`` process) and every
other command with the database open holds it. Hence:

- :func:`holder` asks the kernel (``F_GETLK``, takes nothing) whether any other process holds a lock in that
  region, and which (its pid, on Linux);
- :func:`exclusive` takes a write lock on the whole region without waiting, and keeps it: it fails while
  anything has the database open, and while it is held any SQLite connection that tries to read the file
  gets ``database is locked``.

POSIX locks belong to the process and the file (inode), whatever the path: a symlink or a second spelling
of the path cannot dodge them. They vanish when the holder dies, so a crashed server never blocks a restore.
A process drops all its POSIX locks on a file when it closes any descriptor of it; on Linux
:func:`exclusive` takes an open-file-description lock instead (same conflicts, no such trap), elsewhere
restore opens no other descriptor of the database while it holds the lock, unless hard links fail.

``<database>.lock`` (:func:`server_lock`) is a second, cooperative lock: a server holding it shared while it
runs makes a restore refuse even before SQLite opens the file, and a server starting during a restore
waits for it instead of opening the database that is being replaced.
"""

from __future__ import annotations

import contextlib
import errno
import os
import struct
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

try:
    import fcntl
except ImportError:  # pragma: no cover - Windows
    fcntl = None  # type: ignore[assignment]

PENDING_BYTE = 0x40000000
LOCK_REGION = 512  # PENDING, RESERVED and the 510 SHARED bytes
SERVER_LOCK_SUFFIX = ".lock"
_BUSY = (errno.EACCES, errno.EAGAIN)


class LocksUnavailable(RuntimeError):
    """This platform has no POSIX file locks (Windows)."""


@dataclass(frozen=True, slots=True)
class Holder:
    """Another process has the database open; ``pid`` when the kernel says which."""

    pid: int | None

    def describe(self) -> str:
        return f"process {self.pid}" if self.pid else "another process"


def _require_fcntl() -> None:
    if fcntl is None:  # pragma: no cover - Windows
        raise LocksUnavailable("restore needs POSIX file locks (Linux, macOS, BSD)")


def _flock_layout() -> str | None:
    """``struct flock`` as the C library lays it out, where we know it (64-bit Linux and the BSDs)."""
    if sys.maxsize <= 2**32:
        return None
    if sys.platform.startswith("linux"):
        return "hhqqi4x"  # l_type, l_whence, l_start, l_len, l_pid
    if sys.platform == "darwin" or "bsd" in sys.platform:
        return "qqihh"  # l_start, l_len, l_pid, l_type, l_whence
    return None


def holder(path: Path) -> Holder | None:
    """The process holding a SQLite lock on ``path``, or None when no other process has it open."""
    _require_fcntl()
    try:
        fd = os.open(path, os.O_RDONLY)
    except FileNotFoundError:
        return None
    try:
        layout = _flock_layout()
        if layout is not None:
            fields = {"l_type": fcntl.F_WRLCK, "l_whence": os.SEEK_SET, "l_start": PENDING_BYTE,
                      "l_len": LOCK_REGION, "l_pid": 0}
            order = ("l_type", "l_whence", "l_start", "l_len", "l_pid") if layout.startswith("hh") else (
                "l_start", "l_len", "l_pid", "l_type", "l_whence")
            packed = struct.pack(layout, *(fields[name] for name in order))
            answer = dict(zip(order, struct.unpack(layout, fcntl.fcntl(fd, fcntl.F_GETLK, packed)), strict=True))
            if answer["l_type"] == fcntl.F_UNLCK:
                return None
            pid = int(answer["l_pid"])  # -1: an open-file-description lock (another restore), no pid
            return Holder(pid if pid > 0 else None)
        # Elsewhere: try the lock (this needs a writable descriptor) and give it straight back.
        os.close(fd)
        fd = os.open(path, os.O_RDWR)
        try:
            fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, LOCK_REGION, PENDING_BYTE)
        except OSError as exc:
            if exc.errno in _BUSY:
                return Holder(None)
            raise
        fcntl.lockf(fd, fcntl.LOCK_UN, LOCK_REGION, PENDING_BYTE)
        return None
    finally:
        os.close(fd)


def _lock_region(fd: int) -> None:
    """A write lock on the region, not waiting. On Linux an open-file-description lock (it conflicts with
    SQLite's POSIX locks like one of them, but closing another descriptor of the file does not drop it)."""
    layout = _flock_layout()
    if layout == "hhqqi4x" and hasattr(fcntl, "F_OFD_SETLK"):
        fcntl.fcntl(fd, fcntl.F_OFD_SETLK, struct.pack(layout, fcntl.F_WRLCK, os.SEEK_SET, PENDING_BYTE,
                                                       LOCK_REGION, 0))
    else:
        fcntl.lockf(fd, fcntl.LOCK_EX | fcntl.LOCK_NB, LOCK_REGION, PENDING_BYTE)


class InUse(Exception):
    def __init__(self, path: Path, who: Holder) -> None:
        super().__init__(f"{path} is in use by {who.describe()}")
        self.path = path
        self.holder = who


@contextlib.contextmanager
def exclusive(path: Path) -> Iterator[None]:
    """Hold SQLite's lock region of ``path`` exclusively; raise :class:`InUse` at once if anyone has it open."""
    _require_fcntl()
    fd = os.open(path, os.O_RDWR)
    try:
        try:
            _lock_region(fd)
        except OSError as exc:
            if exc.errno not in _BUSY:
                raise
            raise InUse(path, holder(path) or Holder(None)) from None
        yield
    finally:
        os.close(fd)  # releases the lock


def server_lock_path(database: Path) -> Path:
    return database.with_name(database.name + SERVER_LOCK_SUFFIX)


@contextlib.contextmanager
def server_lock(database: Path, *, shared: bool, wait_seconds: float = 0.0) -> Iterator[None]:
    """Hold ``<database>.lock``: shared for a server (every ``--workers`` process at once), exclusive for
    a restore. Waits up to ``wait_seconds``, then raises :class:`InUse` (pid unknown)."""
    _require_fcntl()
    lock_file = server_lock_path(database)
    lock_file.parent.mkdir(mode=0o700, parents=True, exist_ok=True)
    fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        mode = fcntl.LOCK_SH if shared else fcntl.LOCK_EX
        deadline = time.monotonic() + wait_seconds
        while True:
            try:
                fcntl.flock(fd, mode | fcntl.LOCK_NB)
                break
            except OSError as exc:
                if exc.errno not in (*_BUSY, errno.EWOULDBLOCK):
                    raise
                if time.monotonic() >= deadline:
                    raise InUse(lock_file, Holder(None)) from None
                time.sleep(0.05)
        yield
    finally:
        os.close(fd)
