"""Signed values and PKCE, beside the random tokens and their stored hash (``new_token``/``hash_token``,
defined once in ``localcore.contract.tokens`` and re-exported here).

Signed values follow better-call's signed cookies: ``<value>.<base64 HMAC-SHA256(secret, value)>``.
Signatures are checked with ``hmac.compare_digest``.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
from urllib.parse import quote, unquote

from localcore.contract.tokens import hash_token, new_token

__all__ = ["hash_token", "new_token", "pkce_challenge", "same_secret", "sign", "unsign"]


def _signature(secret: str, value: str) -> str:
    digest = hmac.new(secret.encode("utf-8"), value.encode("utf-8"), hashlib.sha256).digest()
    return base64.b64encode(digest).decode("ascii")


def sign(secret: str, value: str) -> str:
    """``<value>.<signature>``, percent-encoded so it is a valid cookie value."""
    return quote(f"{value}.{_signature(secret, value)}", safe="")


def unsign(secret: str, signed: str | None) -> str | None:
    """The value inside ``signed`` when its signature is valid, else None (never raises)."""
    if not signed:
        return None
    text = unquote(signed)
    value, dot, signature = text.rpartition(".")
    if not dot or not value:
        return None
    expected = _signature(secret, value)
    if not hmac.compare_digest(expected.encode("ascii"), signature.encode("utf-8", "replace")):
        return None
    return value


def pkce_challenge(verifier: str) -> str:
    """RFC 7636 S256: ``BASE64URL(SHA256(verifier))`` without padding."""
    digest = hashlib.sha256(verifier.encode("ascii")).digest()
    return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")


def same_secret(a: str, b: str) -> bool:
    """Constant-time equality of two secret strings."""
    return hmac.compare_digest(a.encode("utf-8"), b.encode("utf-8"))
