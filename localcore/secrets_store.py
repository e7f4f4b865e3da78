"""First-run secrets for the desktop default: generated once, kept in the OS keyring when one exists,
otherwise in a ``0600`` JSON file in the data directory.

Only the CLI calls this (the composition root); ``load_config`` never writes anything.
``LOCALCORE_KEYRING=null`` disables the keyring (tests, headless machines).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import secrets
from collections.abc import Mapping
from pathlib import Path

from localcore.data_dir import prepare_data_dir

log = logging.getLogger("localcore.secrets")
SERVICE = "localcore"
GENERATED = ("BETTER_AUTH_SECRET", "WORKSPACE_SETTINGS_ENCRYPTION_KEY", "DEV_MAILBOX_TOKEN")
FILE_NAME = "secrets.json"


def _keyring_usable(env: Mapping[str, str]) -> bool:
    """True when a real OS keyring backend is available (not the fail/null backends)."""
    if env.get("LOCALCORE_KEYRING", "").lower() in ("null", "off", "none", "0"):
        return False
    try:
        import keyring
        from keyring.backends import fail

        backend = keyring.get_keyring()
    except Exception:  # noqa: BLE001 - a broken keyring install just means "no keyring"
        return False
    if isinstance(backend, fail.Keyring) or "null" in type(backend).__module__.lower():
        return False
    children = getattr(backend, "backends", None)
    return children is None or bool(children)


def _read_file(path: Path) -> dict[str, str]:
    try:
        data = json.loads(path.read_text("utf-8"))
    except (FileNotFoundError, json.JSONDecodeError):
        return {}
    return {k: v for k, v in data.items() if isinstance(v, str)} if isinstance(data, dict) else {}


def _write_file(path: Path, values: dict[str, str]) -> None:
    prepare_data_dir(path.parent)
    temp = path.with_suffix(".tmp")
    fd = os.open(temp, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "w", encoding="utf-8") as handle:
        json.dump(values, handle)
    os.chmod(temp, 0o600)
    os.replace(temp, path)


def ensure_secrets(data_dir: Path, env: Mapping[str, str]) -> tuple[dict[str, str], str]:
    """Values for every secret missing from ``env``, and where they are kept (``keyring`` or the file).

    Existing values are reused, so sessions and encrypted settings survive restarts.
    """
    missing = [name for name in GENERATED if not env.get(name)]
    if not missing:
        return {}, "environment"
    found: dict[str, str] = {}
    account = str(data_dir.resolve())
    if _keyring_usable(env):
        import keyring

        try:
            for name in missing:
                value = keyring.get_password(SERVICE, f"{account}:{name}")
                if not value:
                    value = secrets.token_hex(32)
                    keyring.set_password(SERVICE, f"{account}:{name}", value)
                found[name] = value
            return found, "keyring"
        except Exception as exc:  # noqa: BLE001 - fall back to the file on any keyring failure
            log.warning("keyring unavailable (%s); keeping secrets in %s", type(exc).__name__, FILE_NAME)
            found = {}
    path = data_dir / FILE_NAME
    stored = _read_file(path)
    changed = False
    for name in missing:
        if not stored.get(name):
            stored[name] = secrets.token_hex(32)
            changed = True
        found[name] = stored[name]
    if changed:
        _write_file(path, stored)
    with contextlib.suppress(OSError):
        os.chmod(path, 0o600)
    return found, str(path)
