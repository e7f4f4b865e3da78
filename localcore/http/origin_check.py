"""CSRF defence: a browser's state-changing request must come from an allowed origin.

Allowed: the server's own origin, ``BETTER_AUTH_URL``'s origin and ``CORS_ORIGINS``. A request is from a
browser when it carries ``Origin`` or Fetch-Metadata (``Sec-Fetch-Site``); one with neither is a script or
a server-side client, which no web page can forge, and passes. For a browser request:

- ``Origin`` present: it must be allowed (``null`` never is);
- no ``Origin``: ``Sec-Fetch-Site`` must be ``same-origin`` or ``none`` (the user typed it).

This applies to every write that carries the session cookie, and to every write of a route family with
``login_csrf`` (the sign-in routes) whether or not a cookie is present: without that, a page on another
local origin (another port is same-site, so SameSite cookies do not help) could sign the browser into the
attacker's account (login CSRF) with a ``text/plain`` form POST. A cookie-less cross-site navigation
there keeps upstream's ``CROSS_SITE_NAVIGATION_LOGIN_BLOCKED`` code; the refusal's code is the family's
``origin_code``.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import LocalcoreError
from localcore.http.families import family_of
from localcore.http.handler import Guard

SAFE_METHODS = frozenset({"GET", "HEAD", "OPTIONS"})
_TRUSTED_FETCH_SITES = frozenset({"same-origin", "none"})


def origin_check_guard(cookie_name: str, trusted_origins: tuple[str, ...]) -> Guard:
    trusted = frozenset(o.rstrip("/").lower() for o in trusted_origins)

    async def guard(request: web.Request) -> None:
        if request.method in SAFE_METHODS:
            return
        origin = request.headers.get("Origin")
        fetch_site = request.headers.get("Sec-Fetch-Site")
        if origin is None and fetch_site is None:
            return  # not a browser
        has_cookie = cookie_name in request.cookies
        family = family_of(request)
        if not has_cookie and not family.login_csrf:
            return  # no ambient credential to abuse, and not a sign-in
        if origin is not None:
            own = f"{request.scheme}://{request.host}".lower()
            allowed = origin != "null" and origin.rstrip("/").lower() in trusted | {own}
        else:
            allowed = fetch_site in _TRUSTED_FETCH_SITES
        if allowed:
            return
        if not has_cookie and fetch_site == "cross-site" and request.headers.get("Sec-Fetch-Mode") == "navigate":
            raise LocalcoreError(403, "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED", "Cross-site navigation login blocked")
        message = "Invalid origin" if origin is not None else "Cross-site request refused"
        raise LocalcoreError(403, family.origin_code, message)

    return guard
