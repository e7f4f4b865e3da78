"""Random tokens and the one hash they are stored under.

Every secret the server hands out (session tokens, one-time link tokens, invite tokens, OAuth state) is 32
random bytes from ``secrets`` (43 URL-safe characters). Only ``hash_token`` of it is ever stored, so a
database dump reveals no usable credential; every lookup goes through that hash.
"""

from __future__ import annotations

import hashlib
import secrets

TOKEN_BYTES = 32


def new_token() -> str:
    """A fresh random token: 32 bytes, URL-safe base64 without padding (43 characters)."""
    return secrets.token_urlsafe(TOKEN_BYTES)


def hash_token(token: str) -> str:
    """The hex SHA-256 of a token: what a backend stores and looks up."""
    return hashlib.sha256(token.encode("utf-8")).hexdigest()
