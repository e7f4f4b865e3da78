"""The data directory is private: it holds the SQLite database, the secrets file and the workspaces.

Created ``0700``; an existing one we own is tightened to ``0700`` (other local users must not list or read
what is in it). A directory owned by someone else is left alone: it was chosen deliberately.
"""

from __future__ import annotations

import logging
import os
from pathlib import Path

log = logging.getLogger("localcore")
PRIVATE_DIR_MODE = 0o700


def prepare_data_dir(path: Path) -> Path:
    """Create ``path`` owner-only, or tighten it; returns it."""
    path.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    if os.name != "posix":
        return path  # modes are a POSIX notion; elsewhere the user profile's ACLs apply
    status = path.stat()
    if status.st_mode & 0o777 != PRIVATE_DIR_MODE and status.st_uid == os.getuid():
        path.chmod(PRIVATE_DIR_MODE)
        log.info("data dir %s: permissions tightened to 0700", path)
    return path
