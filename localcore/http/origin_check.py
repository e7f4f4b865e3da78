"""CSRF defence: a state-changing request that carries the session cookie must come from an allowed origin.

Allowed: the server's own origin, ``BETTER_AUTH_URL``'s origin and ``CORS_ORIGINS``. When ``Origin`` is
absent, Fetch-Metadata decides (``Sec-Fetch-Site`` ``same-origin``/``none`` pass); a request with neither
header is not from a browser and cannot be forged by one. Without a cookie, a cross-site *navigation*
POST to ``/auth/*`` is refused too (login CSRF), like better-auth.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import LocalcoreError
from localcore.http.handler import Guard

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})


def _refuse(request: web.Request, auth_code: str, message: str) -> LocalcoreError:
    code = auth_code if request.path.startswith("/auth/") else "invalid_origin"
    return LocalcoreError(403, code, message)


def origin_check_guard(cookie_name: str, trusted_origins: tuple[str, ...]) -> Guard:
    trusted = frozenset(o.rstrip("/").lower() for o in trusted_origins)

    async def guard(request: web.Request) -> None:
        if request.method in SAFE_METHODS:
            return
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        own = f"{request.scheme}://{request.host}".lower()
        if cookie_name in request.cookies:
            if origin is not None:
                if origin == "null" or origin.rstrip("/").lower() not in trusted | {own}:
                    raise _refuse(request, "INVALID_ORIGIN", "Invalid origin")
            elif fetch_site is not None and fetch_site not in ("same-origin", "none"):
                raise _refuse(request, "INVALID_ORIGIN", "Cross-site request refused")
        elif (request.path.startswith("/auth/") and fetch_site == "cross-site"
              and request.headers.get("Sec-Fetch-Mode") == "navigate"):
            raise _refuse(request, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked")

    return guard
