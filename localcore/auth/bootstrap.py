"""Desktop owner bootstrap: the single-user first run, with no email round trip.

On start-up with an empty database, ``python -m localcore`` prints ``<url>/auth/bootstrap?token=…``: a
one-time token (15 minutes, stored hashed like every other). Opening it shows the shell's confirm page;
its button POSTs ``/auth/bootstrap {token}``, which — only from a loopback client, only while there is
still no user — creates the owner and signs them in:

- email ``owner@localhost`` (a placeholder, unverified; no mail is sent to it), name ``Owner``,
  no password; a "Default workspace" as for any new user;
- later, in account settings, the owner sets a real address (``POST /auth/change-email``, allowed while
  the address is unverified) and a password (``POST /auth/set-password``, allowed while there is none).

``--no-bootstrap`` (``config.bootstrap = False``) turns the offer off.
"""

from __future__ import annotations

import ipaddress
import logging

from aiohttp import web

from localcore.appkeys import BACKEND, CONFIG
from localcore.auth import models as m
from localcore.auth.context import body_of, client_of, start_session
from localcore.auth.errors import auth_error
from localcore.auth.keys import AUTH_SERVICE
from localcore.auth.service import SignedIn
from localcore.auth.tokens import hash_token
from localcore.auth.views import json_response, session_json, user_json
from localcore.http.openapi import RouteCatalog
from localcore.http.request_context import client_ip
from localcore.store import DuplicateEmail

log = logging.getLogger("localcore.auth")

KIND = "bootstrap"
TTL_SECONDS = 15 * 60
OWNER_EMAIL = "owner@localhost"
OWNER_NAME = "Owner"
PATH = "/auth/bootstrap"


async def offer_bootstrap_link(app: web.Application, url: str) -> str | None:
    """The one-time owner link, or None (bootstrap off, or the database already has users)."""
    if not app[CONFIG].bootstrap or await app[BACKEND].users.count_users() > 0:
        return None
    token = await app[AUTH_SERVICE].issue_token(KIND, {}, TTL_SECONDS)
    return f"{url.rstrip('/')}{PATH}?token={token}"


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


async def redeem(request: web.Request) -> web.Response:
    # Both the TCP peer and the resolved client (X-Forwarded-For counts only under TRUST_PROXY) must be
    # this machine: a trusted local proxy forwarding a remote client is refused too.
    if not (_is_loopback(request.remote) and _is_loopback(client_ip(request))):
        raise auth_error("BOOTSTRAP_LOOPBACK_ONLY")
    body = await body_of(request, m.BootstrapBody)
    service = request.app[AUTH_SERVICE]
    stored = await service.backend.tokens.consume_token(KIND, hash_token(body.token)) if body.token else None
    if stored is None or stored.expires_at <= service.clock():
        raise auth_error("BOOTSTRAP_UNAVAILABLE")
    if await service.backend.users.count_users() > 0:
        raise auth_error("BOOTSTRAP_UNAVAILABLE")
    try:
        user, _ = await service.create_user(email=OWNER_EMAIL, name=OWNER_NAME, welcome=False, method="bootstrap")
    except DuplicateEmail:
        raise auth_error("BOOTSTRAP_UNAVAILABLE") from None
    client = client_of(request)
    issued = await service.sessions.issue(user.id, ip_address=client.ip_address, user_agent=client.user_agent)
    start_session(request, SignedIn(user, issued, is_new_user=True))
    log.info("auth: desktop owner %s created through the bootstrap link", user.id)
    return json_response({"token": issued.token, "user": user_json(user),
                          "session": session_json(issued.session, issued.token), "url": "/"})


def setup_bootstrap_routes(app: web.Application, catalog: RouteCatalog) -> None:
    catalog.add(app.router, "POST", PATH, redeem, tag="auth", body=m.BootstrapBody, response=m.MagicLinkOut,
                summary="Use the one-time desktop bootstrap token: create the owner and sign in (loopback only)",
                raises=[auth_error("BOOTSTRAP_UNAVAILABLE"), auth_error("BOOTSTRAP_LOOPBACK_ONLY")])
