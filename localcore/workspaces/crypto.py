"""Workspace settings encryption: AES-256-GCM under a key derived from ``WORKSPACE_SETTINGS_ENCRYPTION_KEY``.

Upstream seals values with Postgres's pgcrypto (``pgp_sym_encrypt``), which SQLite lacks, so the application
encrypts instead, with audited primitives from ``cryptography``:

- the 256-bit key is HKDF-SHA256 of the configured secret (any length, any alphabet);
- each value gets a fresh random 96-bit nonce; the stored blob is ``nonce || ciphertext || tag``, so the
  same plaintext written twice gives different blobs;
- the associated data binds the blob to its workspace and key name: a blob copied to another row or
  workspace does not decrypt there;
- a key id (a hash of the derived key, not the key) is stored beside each blob, so rotation knows which
  key sealed what. ``WORKSPACE_SETTINGS_PREVIOUS_KEYS`` still open old blobs; writes always use the
  current key, and ``python -m localcore rotate-settings-key`` re-seals everything under it.
"""

from __future__ import annotations

import hashlib
import json
import secrets
from collections.abc import Sequence
from dataclasses import dataclass
from functools import cached_property
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from cryptography.hazmat.primitives.ciphers.aead import AESGCM

_SALT = b"localcore/workspace-settings"
_INFO = b"aes-256-gcm/v1"
_NONCE_BYTES = 12


@dataclass(frozen=True, slots=True)
class _Key:
    key_id: str
    aead: AESGCM

    @classmethod
    def derive(cls, secret: str) -> _Key:
        from cryptography.hazmat.primitives import hashes
        from cryptography.hazmat.primitives.ciphers.aead import AESGCM
        from cryptography.hazmat.primitives.kdf.hkdf import HKDF

        key = HKDF(algorithm=hashes.SHA256(), length=32, salt=_SALT, info=_INFO).derive(secret.encode())
        key_id = hashlib.sha256(b"localcore/workspace-settings/key-id\x00" + key).hexdigest()[:16]
        return cls(key_id, AESGCM(key))


def _aad(workspace_id: str, name: str) -> bytes:
    return json.dumps(["localcore-workspace-setting", 1, workspace_id, name]).encode()


class SettingsCipher:
    """Seals with the current key; opens with the current or any previous key."""

    def __init__(self, secret: str, previous: Sequence[str] = ()) -> None:
        if not secret:
            raise ValueError("WORKSPACE_SETTINGS_ENCRYPTION_KEY is not configured")
        self._secret = secret
        self._previous = tuple(p for p in previous if p)

    @cached_property
    def _current(self) -> _Key:
        return _Key.derive(self._secret)

    @cached_property
    def _keys(self) -> dict[str, _Key]:
        keys = [self._current, *(_Key.derive(p) for p in self._previous)]
        return {k.key_id: k for k in reversed(keys)}  # the current key wins an (impossible) id clash

    @property
    def key_id(self) -> str:
        """The id of the key new values are sealed with."""
        return self._current.key_id

    def seal(self, workspace_id: str, name: str, plaintext: str) -> tuple[bytes, str]:
        """``(blob, key_id)`` for storage."""
        nonce = secrets.token_bytes(_NONCE_BYTES)
        blob = nonce + self._current.aead.encrypt(nonce, plaintext.encode(), _aad(workspace_id, name))
        return blob, self._current.key_id

    def open(self, workspace_id: str, name: str, blob: bytes, key_id: str) -> str | None:
        """The plaintext, or None when no known key opens the blob (wrong key, tampering, another row)."""
        if len(blob) <= _NONCE_BYTES:
            return None
        from cryptography.exceptions import InvalidTag

        known = self._keys.get(key_id)
        candidates = [known] if known is not None else list(self._keys.values())
        for key in candidates:
            try:
                plain = key.aead.decrypt(blob[:_NONCE_BYTES], blob[_NONCE_BYTES:], _aad(workspace_id, name))
            except InvalidTag:
                continue
            try:
                return plain.decode()
            except UnicodeDecodeError:
                return None
        return None
