"""Helmet-equivalent headers and a CSP with a fresh nonce per HTML answer.

The nonce (16 random bytes, base64) is generated on first use and kept in ``request[CSP_NONCE]`` so the
shell and the server-rendered pages can stamp it on their ``<script>`` and ``<style>`` tags. An answer
that used a nonce, or is ``text/html``, carries the policy with that (fresh) nonce; every other answer
(JSON, static files) carries the same policy without any nonce — stricter, since then no inline script
or style can run at all — built once at start-up, so an API request generates no random bytes.

Every header is written by one ``on_response_prepare`` hook (this module's, plus the header writers the
app hands it: the request id, the rate-limit headers), so each answer pays for one hook, not one per
concern.

Two privacy rules ride along: every answer of a ``private`` route family (the API and auth routes) is
``Cache-Control: no-store`` (they carry sessions, tokens and personal data that no browser or proxy cache
may keep; a route may not loosen it), and the ``Server`` header names no software version (aiohttp's
default names both Python's and its own, which only helps an attacker pick an exploit).
"""

from __future__ import annotations

import base64
import secrets
from collections.abc import Callable, Sequence

from aiohttp import web, web_response

from localcore.config import Config
from localcore.http.families import family_of

CSP_NONCE = web.RequestKey("csp_nonce", str)

STATIC_HEADERS = {
    "Strict-Transport-Security": "max-age=31536000; includeSubDomains; preload",
    "X-Frame-Options": "DENY",
    "X-Content-Type-Options": "nosniff",
    "Referrer-Policy": "strict-origin-when-cross-origin",
    "Cross-Origin-Opener-Policy": "same-origin",
    "Cross-Origin-Resource-Policy": "same-origin",
    "Origin-Agent-Cluster": "?1",
    "X-DNS-Prefetch-Control": "off",
    "X-Download-Options": "noopen",
    "X-Permitted-Cross-Domain-Policies": "none",
    "X-XSS-Protection": "0",
}
SERVER_HEADER = "localcore"


def content_security_policy(nonce: str, *, upgrade_insecure_requests: bool) -> str:
    directives = [
        "default-src 'self'",
        f"script-src 'self' 'nonce-{nonce}'",
        f"style-src 'self' https://fonts.googleapis.com 'nonce-{nonce}'",
        "style-src-attr 'unsafe-inline'",
        "img-src 'self' data: blob:",
        "connect-src 'self'",
        "frame-src 'self' https://calendly.com",
        "font-src 'self' https://fonts.gstatic.com data:",
        "object-src 'none'",
        "frame-ancestors 'none'",
        "base-uri 'self'",
        "form-action 'self'",
        "script-src-attr 'none'",
    ]
    if upgrade_insecure_requests:
        directives.append("upgrade-insecure-requests")
    return "; ".join(directives)


def csp_nonce(request: web.Request) -> str:
    nonce = request.get(CSP_NONCE)
    if nonce is None:
        nonce = base64.b64encode(secrets.token_bytes(16)).decode()
        request[CSP_NONCE] = nonce
    return nonce


HeaderWriter = Callable[[web.Request, web.StreamResponse], None]


def setup_security_headers(app: web.Application, config: Config, *, also: Sequence[HeaderWriter] = ()) -> None:
    """Install the one headers hook: the security headers, then each of ``also`` in order."""
    # aiohttp sets ``Server`` from its module-level default on every response it writes — also on the 400
    # it answers by itself to an unparseable request, before any app hook runs — so that default is the
    # one place to change it.
    web_response.SERVER_SOFTWARE = SERVER_HEADER  # type: ignore[attr-defined]
    # The policy is built once with a marker; per request only the nonce is spliced in.
    marker = "\x00"
    pieces = content_security_policy(marker, upgrade_insecure_requests=config.csp_upgrade_insecure_requests)
    head, middle, tail = pieces.split(marker)
    csp = config.csp_enabled
    without_nonce = pieces.replace(f" 'nonce-{marker}'", "")
    static = tuple(STATIC_HEADERS.items())
    writers = tuple(also)

    async def on_prepare(request: web.Request, response: web.StreamResponse) -> None:
        headers = response.headers
        for name, value in static:
            if name not in headers:
                headers[name] = value
        if family_of(request).private:
            headers["Cache-Control"] = "no-store"
        if csp:
            if CSP_NONCE in request or response.content_type == "text/html":
                nonce = csp_nonce(request)
                headers["Content-Security-Policy"] = f"{head}{nonce}{middle}{nonce}{tail}"
            else:
                headers["Content-Security-Policy"] = without_nonce
        for write in writers:
            write(request, response)

    app.on_response_prepare.append(on_prepare)
