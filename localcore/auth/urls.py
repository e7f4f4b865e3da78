"""Where auth flows may send a browser, and the links they mail.

Every ``callbackURL``, ``redirectTo``, ``errorCallbackURL`` and ``newUserCallbackURL`` must be a relative
path on this server (``/x``, never ``//host`` or ``/\\host``) or an absolute http(s) URL whose exact origin
(scheme, host, port) is trusted (``CORS_ORIGINS`` plus ``BETTER_AUTH_URL``); anything else is a 403 with
the matching better-auth code. This closes open redirects through the auth endpoints.
"""

from __future__ import annotations

from collections.abc import Iterable
from urllib.parse import parse_qsl, quote, urlencode, urlsplit, urlunsplit

from localcore.auth.errors import auth_error

_FORBIDDEN_CHARS = frozenset("\\<>\"'`") | {chr(c) for c in range(0x20)} | {"\x7f", " "}


def is_safe_target(url: str, trusted_origins: Iterable[str]) -> bool:
    """True for a same-site relative path or an absolute URL on a trusted origin."""
    if not url or any(ch in _FORBIDDEN_CHARS for ch in url):
        return False
    if url.startswith("/"):
        return not url.startswith("//")
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError:
        return False
    if parts.scheme not in ("http", "https") or not parts.hostname or parts.username or parts.password:
        return False
    netloc = parts.hostname + (f":{port}" if port is not None else "")
    origin = f"{parts.scheme}://{netloc}".lower()
    return origin in {o.rstrip("/").lower() for o in trusted_origins}


def check_target(url: str | None, trusted_origins: Iterable[str], code: str) -> str | None:
    """``url`` unchanged when it is safe (or absent); raises the 403 ``code`` otherwise."""
    if url is None:
        return None
    if not is_safe_target(url, trusted_origins):
        raise auth_error(code)
    return url


def with_query(url: str, **params: str) -> str:
    """``url`` with ``params`` added to (or replacing keys in) its query string."""
    parts = urlsplit(url)
    query = [(k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if k not in params]
    query.extend(params.items())
    return urlunsplit(parts._replace(query=urlencode(query, quote_via=quote)))


def link(base_url: str, path: str, **params: str | None) -> str:
    """An absolute link below ``BETTER_AUTH_URL`` with URL-encoded query parameters (None values dropped)."""
    query = urlencode({k: v for k, v in params.items() if v is not None}, quote_via=quote)
    return f"{base_url.rstrip('/')}{path}" + (f"?{query}" if query else "")
