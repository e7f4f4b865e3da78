"""Error types, one family per envelope.

Core routes answer ``{error, code, message, requestId}`` (``HttpError``); ``/auth/*`` answers the
better-auth shape ``{code, message}`` (``AuthError``); ``/api/credits/*`` answers ``{error: {code,
message}}`` (``CreditsError``). One middleware (``localcore.http.errors``) maps all of them, so handlers and
services only raise.
"""

from __future__ import annotations

from typing import Any


class LocalcoreError(Exception):
    """Base of every error that carries an HTTP status and a stable code."""

    status: int = 500
    code: str = "internal_error"

    def __init__(self, status: int, code: str, message: str, *, headers: dict[str, str] | None = None,
                 extra: dict[str, Any] | None = None) -> None:
        super().__init__(message)
        self.status = status
        self.code = code
        self.message = message
        self.headers = headers or {}
        self.extra = extra or {}


class HttpError(LocalcoreError):
    """A core-route error: envelope ``{error: message, code, message, requestId}``."""


class ValidationFailed(HttpError):
    def __init__(self, message: str) -> None:
        super().__init__(400, "validation_failed", message)


class NotFound(HttpError):
    def __init__(self, message: str = "Not found", code: str = "not_found") -> None:
        super().__init__(404, code, message)


class Unauthorized(HttpError):
    def __init__(self, message: str = "Authentication required") -> None:
        super().__init__(401, "unauthorized", message)


class Forbidden(HttpError):
    def __init__(self, message: str = "Forbidden", code: str = "forbidden") -> None:
        super().__init__(403, code, message)


class RateLimited(HttpError):
    """429 with ``Retry-After``; the envelope text is fixed by the contract."""

    def __init__(self, retry_after: int) -> None:
        retry_after = max(1, int(retry_after))
        super().__init__(429, "rate_limited", f"Too many requests. Retry after {retry_after} seconds.",
                         headers={"Retry-After": str(retry_after)})
        self.retry_after = retry_after


class AuthError(LocalcoreError):
    """A better-auth style error on ``/auth/*``: body ``{code, message}``."""


class CreditsError(LocalcoreError):
    """A credits-route error: body ``{error: {code, message}}`` (plus ``extra`` keys at top level)."""


class ConfigError(Exception):
    """Configuration is invalid; ``problems`` lists every issue as ``"<path>: <message>"``."""

    def __init__(self, problems: list[str]) -> None:
        self.problems = problems
        super().__init__("Config validation failed:\n" + "\n".join(f"  - {p}" for p in problems))
