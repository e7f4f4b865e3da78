"""``python -m localcore rotate-settings-key``: re-encrypt every workspace setting under the current key.

Rotation, step by step: set ``WORKSPACE_SETTINGS_ENCRYPTION_KEY`` to the new secret and
``WORKSPACE_SETTINGS_PREVIOUS_KEYS`` to the old one(s) (comma-separated); the server keeps working (old
values still open). Run this command; then the previous keys can be dropped. Values no configured key
opens are left untouched and reported (exit status 1). ``--dry-run`` only counts.
"""

from __future__ import annotations

import argparse

from localcore.config import Config
from localcore.workspaces.crypto import SettingsCipher
from localcore.workspaces.settings import rotate_settings


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--dry-run", action="store_true", help="count what would be re-encrypted; change nothing")


async def run(args: argparse.Namespace, config: Config) -> int:
    from backends import open_backend

    cipher = SettingsCipher(config.workspace_settings_encryption_key, config.workspace_settings_previous_keys)
    async with await open_backend(config.database_url) as backend:
        report = await rotate_settings(backend.workspaces, cipher, dry_run=bool(getattr(args, "dry_run", False)))
    verb = "would re-encrypt" if getattr(args, "dry_run", False) else "re-encrypted"
    print(f"workspace settings: {report.total} stored; {verb} {report.rotated} under key {cipher.key_id}; "
          f"{report.already_current} already current; {report.changed_meanwhile} changed meanwhile (kept); "
          f"{report.undecryptable} not decryptable with any configured key (left unchanged)")
    return 1 if report.undecryptable else 0


COMMAND = (add_arguments, run)
