"""Authentication: every ``/auth/*`` flow, sessions, ``/api/v1/me`` and the desktop bootstrap.

``setup_auth(app, catalog)`` wires it into an app built by ``create_app``: the session resolver behind
``localcore.http.identity``, the cookie writer, the routes (all through the OpenAPI catalog) and the
lifecycle (password pool warm-up, background mail drained on shutdown).

Module map: ``passwords`` (argon2id, legacy scrypt, strength), ``tokens`` (random tokens, hashes,
signatures), ``sessions`` (issue/resolve/slide), ``cookies`` (the session cookie), ``service`` (the
sign-in flows), ``account`` (a signed-in user's own changes), ``signup`` (post-sign-up hook and the invite
seam), ``oauth`` (Google), ``bootstrap``, ``me``, and the ``routes*`` modules (HTTP only).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator

from aiohttp import web

from localcore.appkeys import BACKEND, CLOCK, CONFIG, MAILER, RATE_LIMITER, require
from localcore.auth.account import AccountService
from localcore.auth.bootstrap import setup_bootstrap_routes
from localcore.auth.cookies import SessionCookies, request_cache_view
from localcore.auth.identity_cache import CacheView, IdentityCache
from localcore.auth.keys import ACCOUNT_SERVICE, AUTH_SERVICE, GOOGLE_OAUTH, IDENTITY_CACHE, SESSION_COOKIES
from localcore.auth.me import setup_me_routes
from localcore.auth.oauth import GoogleOAuth
from localcore.auth.passwords import PasswordHasher
from localcore.auth.routes import setup_auth_routes
from localcore.auth.routes_account import setup_account_routes
from localcore.auth.routes_social import setup_social_routes
from localcore.auth.service import AuthService
from localcore.auth.sessions import SessionManager
from localcore.auth.signup import DefaultWorkspace, InviteAcceptor, InviteOutcome
from localcore.http.families import ROUTE_FAMILIES, RouteFamily
from localcore.http.identity import SESSION_RESOLVER
from localcore.http.openapi import RouteCatalog
from localcore.http.ratelimit import Rule, by_ip
from localcore.store import TokenStore

log = logging.getLogger("localcore.auth")
SWEEP_INTERVAL_SECONDS = 6 * 3600
#: better-auth's routes: its ``{code, message}`` envelope, form bodies, and the origin check on every
#: browser write, signed in or not (login CSRF).
#: Per client IP; the per-account failed sign-in limit is ``signin_limit.py``.
AUTH_RATE_LIMITS: tuple[Rule, ...] = (
    Rule("POST", "/auth/sign-in/email", 5, "1 minute", by_ip),
    Rule("POST", "/auth/sign-up/email", 3, "1 hour", by_ip),
    Rule("POST", "/auth/request-password-reset", 3, "1 hour", by_ip),
    Rule("POST", "/auth/send-verification-email", 3, "1 hour", by_ip),
    Rule("POST", "/auth/sign-in/magic-link", 5, "1 minute", by_ip),
)
AUTH_FAMILY = RouteFamily("auth", "/auth/", envelope="auth", origin_code="INVALID_ORIGIN", login_csrf=True,
                          form_bodies=True)

__all__ = ["AUTH_RATE_LIMITS", "AUTH_SERVICE", "AuthService", "CacheView", "DefaultWorkspace", "IdentityCache",
           "InviteAcceptor", "InviteOutcome", "request_cache_view", "set_default_workspace", "set_invite_acceptor",
           "setup_auth"]


def setup_auth(app: web.Application, catalog: RouteCatalog, *,
               hasher: PasswordHasher | None = None) -> AuthService:
    """Install sessions, the auth routes and ``/api/v1/me`` on ``app``; returns the auth service, which
    features that act on new users are given (see ``signup.py``). Needs the config, backend, clock and
    mailer on the app."""
    require(app, "auth", CONFIG, BACKEND, CLOCK, MAILER, ROUTE_FAMILIES, RATE_LIMITER)
    config, backend, clock, mailer = app[CONFIG], app[BACKEND], app[CLOCK], app[MAILER]
    hasher = hasher or PasswordHasher()
    cache = IdentityCache(backend.identity_version)
    manager = SessionManager(backend.sessions, clock, config.auth.session_ttl_seconds, cache=cache)
    service = AuthService(backend, config, mailer, clock, hasher, manager)
    cookies = SessionCookies(config, manager)
    google = GoogleOAuth(service, config)
    app[AUTH_SERVICE] = service
    app[ACCOUNT_SERVICE] = AccountService(service)
    app[SESSION_COOKIES] = cookies
    app[IDENTITY_CACHE] = cache
    app[GOOGLE_OAUTH] = google
    app[SESSION_RESOLVER] = cookies.resolve
    app.on_response_prepare.append(cookies.on_response_prepare)

    async def lifecycle(app: web.Application) -> AsyncIterator[None]:
        loop = asyncio.get_running_loop()
        # In the background: the server answers while the dummy hash is computed (a start is ~0.1 s faster).
        warming = loop.create_task(hasher.warm_up())
        sweeper = loop.create_task(_sweep_expired(manager, app[BACKEND].tokens))
        yield
        for task in (warming, sweeper):
            task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await task
        await service.drain()
        await google.close()
        hasher.close()

    app.cleanup_ctx.append(lifecycle)
    app[ROUTE_FAMILIES].add(AUTH_FAMILY)
    app[RATE_LIMITER].add_rules(AUTH_RATE_LIMITS)
    setup_auth_routes(app, catalog)
    setup_account_routes(app, catalog)
    setup_social_routes(app, catalog)
    setup_bootstrap_routes(app, catalog)
    setup_me_routes(app, catalog)
    return service


async def _sweep_expired(manager: SessionManager, tokens: TokenStore,
                        interval: float = SWEEP_INTERVAL_SECONDS) -> None:
    """Housekeeping: expired sessions and one-time tokens are already refused when presented; this only
    keeps the tables small."""
    while True:
        await asyncio.sleep(interval)
        try:
            now = manager.clock()
            sessions = await manager.store.delete_expired_sessions(now)
            one_time = await tokens.delete_expired_tokens(now)
        except Exception as exc:  # noqa: BLE001 - housekeeping must never stop the server
            log.warning("auth: sweeping expired sessions/tokens failed (%s)", type(exc).__name__)
        else:
            if sessions or one_time:
                log.info("auth: swept %d expired session(s) and %d expired token(s)", sessions, one_time)


def set_invite_acceptor(app: web.Application, acceptor: InviteAcceptor) -> None:
    """Accept ``x-invite-token`` invites at sign-up with ``acceptor`` (see ``signup.py``)."""
    require(app, "an invite acceptor", AUTH_SERVICE)
    app[AUTH_SERVICE].invite_acceptor = acceptor


def set_default_workspace(app: web.Application, maker: DefaultWorkspace) -> None:
    """Give every new user who joined no workspace through an invite a default one with ``maker``."""
    require(app, "a default-workspace maker", AUTH_SERVICE)
    app[AUTH_SERVICE].default_workspace = maker
