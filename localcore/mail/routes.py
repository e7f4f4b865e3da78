"""The dev mailbox over HTTP: ``/api/dev/mail`` and the shell page ``/dev/mail``.

The mailbox holds every magic-link, reset and invite token the server mailed, so it is for the person at
the terminal only (what Jupyter does for its notebook server):

- it exists only while the transport is ``console://``; with any other transport the API answers exactly
  as an unknown route does (404 in the core envelope), so a server does not even reveal that it exists;
- it opens only with the per-data-dir secret ``DEV_MAILBOX_TOKEN`` that the start-up banner prints as
  ``Dev mailbox: <url>/dev/mail?token=SECRET``: as ``?token=``, as the ``x-dev-mailbox-token`` header
  (scripts, tests), or as the cookie that opening the banner link sets (``<appId>.dev_mailbox``,
  HttpOnly, SameSite=Strict, a browser-session cookie holding a value derived from the secret, never the
  secret itself). Without it the API answers the same 404, so a caller cannot tell a closed mailbox from
  none; the shell page then explains where the link is.
"""

from __future__ import annotations

import hashlib
import hmac
from typing import Any

from aiohttp import hdrs, web

from localcore.errors import NotFound
from localcore.http.openapi import Param, RouteCatalog, redirect_to
from localcore.mail.devmailbox import DevMailbox
from localcore.mail.mailer import Mailer
from localcore.shell import serve_index

PATH = "/api/dev/mail"
PAGE = "/dev/mail"
TOKEN_HEADER = "x-dev-mailbox-token"
TOKEN_QUERY = "token"


class MailboxKey:
    """The mailbox secret and the three ways a request may present it (compared in constant time)."""

    def __init__(self, secret: str, cookie_name: str, *, secure_cookie: bool = False) -> None:
        self._secret = secret.encode("utf-8")
        self.cookie_name = cookie_name
        self.secure_cookie = secure_cookie
        # The cookie carries a derivative, so a leaked cookie jar does not print the banner secret.
        self.cookie_value = hmac.new(self._secret, b"localcore dev mailbox cookie", hashlib.sha256).hexdigest()

    def _is_secret(self, presented: str) -> bool:
        return hmac.compare_digest(presented.encode("utf-8", "replace"), self._secret)

    def opens(self, request: web.Request) -> bool:
        """True when the request presents the secret (query, header) or the mailbox cookie."""
        for presented in (request.query.get(TOKEN_QUERY), request.headers.get(TOKEN_HEADER)):
            if presented and self._is_secret(presented):
                return True
        cookie = request.cookies.get(self.cookie_name)
        return cookie is not None and hmac.compare_digest(cookie.encode("utf-8", "replace"),
                                                          self.cookie_value.encode("ascii"))


def setup_dev_mail_routes(app: web.Application, mailer_key: web.AppKey[Mailer], key: MailboxKey,
                          catalog: RouteCatalog | None = None) -> None:
    def mailbox_of(request: web.Request) -> DevMailbox:
        mailer = request.config_dict.get(mailer_key)
        mailbox = mailer.dev_mailbox if mailer is not None else None
        if mailbox is None or not key.opens(request):
            raise NotFound(f"Route {request.method}:{PATH} not found")
        return mailbox

    async def list_messages(request: web.Request) -> web.Response:
        """``{messages: [...]}`` newest first."""
        mailbox = mailbox_of(request)
        return web.json_response({"messages": mailbox.messages()}, headers={"Cache-Control": "no-store"})

    async def clear_messages(request: web.Request) -> web.Response:
        mailbox_of(request).clear()
        return web.Response(status=204)

    async def open_page(request: web.Request) -> web.StreamResponse:
        """The banner link: trade the secret for the mailbox cookie, then drop it from the address bar."""
        if TOKEN_QUERY not in request.query:
            return await serve_index(request)
        response = web.Response(status=302, headers={hdrs.LOCATION: PAGE, hdrs.CACHE_CONTROL: "no-store"})
        if key.opens(request):
            response.set_cookie(key.cookie_name, key.cookie_value, path="/", httponly=True, samesite="Strict",
                                secure=key.secure_cookie)
        return response

    if catalog is None:
        app.router.add_get(PAGE, open_page, allow_head=False)
        app.router.add_get(PATH, list_messages, allow_head=False)
        app.router.add_delete(PATH, clear_messages)
        return
    # Without the transport or the secret the API answers exactly as an unknown route: a NotFound.
    secret = [Param(TOKEN_QUERY, "query", "The mailbox secret (the banner link)"),
              Param(TOKEN_HEADER, "header", "The mailbox secret (scripts, tests)")]
    catalog.add(app.router, "GET", PAGE, open_page, tag="dev", storage=False, shell_page=True,
                summary="The shell's dev mailbox page; ?token=SECRET (the banner link) sets the mailbox cookie",
                params=secret[:1],
                responses={302: redirect_to("To /dev/mail, with the mailbox cookie when the secret is right")})
    catalog.add(app.router, "GET", PATH, list_messages, tag="dev", storage=False, params=secret,
                response=dict[str, list[dict[str, Any]]],
                summary="Dev mailbox: messages sent through console:// mail, newest first (needs the mailbox "
                        "secret: ?token=, x-dev-mailbox-token or the cookie set by the banner link)",
                raises=[NotFound(f"Route GET:{PATH} not found")])
    catalog.add(app.router, "DELETE", PATH, clear_messages, tag="dev", storage=False, params=secret, status=204,
                summary="Empty the dev mailbox (needs the mailbox secret)",
                raises=[NotFound(f"Route DELETE:{PATH} not found")])
