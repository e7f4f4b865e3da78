"""``create_app``: the whole HTTP application, wired in one readable place.

Middleware order (outermost first) — each is one module under ``localcore/http``:

1. request id       every response carries ``x-request-id``
2. CORS             allow-listed origins, also on error responses
3. errors           every failure becomes the route family's envelope; no internals leak
4. CSP nonce        fresh per request, used by the headers and the shell
5. trusted hosts    refuse foreign ``Host`` headers (DNS rebinding)
6. body limit       413 before reading an oversized body
7. origin check     cookie-carrying writes must come from an allowed origin (CSRF)
8. auth gate        ``/api/v1/*`` needs a session (except the public config)
9. rate limits      counters in the backend, shared by every process
Security headers and ``x-request-id`` are added in ``on_response_prepare`` so static files and errors get
them too.
"""

from __future__ import annotations

from collections.abc import AsyncIterator
from pathlib import Path

from aiohttp import web

from localcore.appkeys import BACKEND, CAPABILITIES, CATALOG, CLOCK, CONFIG, MAILER, RATE_LIMITER
from localcore.clock import Clock, system_clock
from localcore.config import Config
from localcore.http.body_limit import body_limit_middleware
from localcore.http.cors import cors_middleware
from localcore.http.errors import error_middleware
from localcore.http.identity import auth_gate_middleware
from localcore.http.openapi import RouteCatalog
from localcore.http.origin_check import origin_check_middleware
from localcore.http.ratelimit import RateLimiter
from localcore.http.request_context import add_request_id_header, request_id_middleware
from localcore.http.security_headers import nonce_middleware, setup_security_headers
from localcore.http.trusted_hosts import trusted_hosts_middleware
from localcore.mail import Mailer, create_transport
from localcore.mail.devmailbox import DevMailbox
from localcore.mail.routes import setup_dev_mail_routes
from localcore.store import Backend


def default_web_root() -> Path:
    """``localcore/web`` inside an installed wheel; the repository's top-level ``web/`` in a checkout."""
    here = Path(__file__).resolve().parent
    packaged = here / "web"
    return packaged if packaged.is_dir() else here.parent / "web"


def build_mailer(config: Config, clock: Clock) -> Mailer:
    """The mailer the configuration asks for (console mail keeps a dev mailbox)."""
    if config.mail is None:
        return Mailer(None, sender=None, app_name=config.app_name, clock=clock)
    mailbox = DevMailbox() if config.mail.scheme in ("console", "console-capture") else None
    transport = create_transport(config.mail.transport_url, clock=clock, mailbox=mailbox,
                                 resend_base_url=config.mail.resend_base_url)
    return Mailer(transport, sender=config.mail.sender, app_name=config.app_name, clock=clock)


def create_app(config: Config, backend: Backend, *, mailer: Mailer | None = None,
               clock: Clock | None = None) -> web.Application:
    """The whole HTTP app over an opened backend (which the caller keeps and closes)."""
    clock = clock or system_clock
    rate_limiter = RateLimiter(backend.rate_limits, clock, config)
    app = web.Application(
        client_max_size=config.body_limit_bytes,
        middlewares=[
            request_id_middleware,
            cors_middleware(tuple(config.cors_origins)),
            error_middleware,
            nonce_middleware,
            trusted_hosts_middleware(tuple(config.trusted_hosts)),
            body_limit_middleware(config.body_limit_bytes),
            origin_check_middleware(config.cookie_name, config.trusted_origins),
            auth_gate_middleware,
            rate_limiter.middleware(),
        ],
    )
    catalog = RouteCatalog()
    owns_mailer = mailer is None
    app[CONFIG] = config
    app[BACKEND] = backend
    app[CLOCK] = clock
    app[MAILER] = mailer if mailer is not None else build_mailer(config, clock)
    app[CATALOG] = catalog
    app[RATE_LIMITER] = rate_limiter
    app.on_response_prepare.append(add_request_id_header)
    setup_security_headers(app, config)

    from localcore.system import core_capabilities, setup_system_routes

    setup_system_routes(app, catalog)
    setup_dev_mail_routes(app, MAILER, catalog)
    app[CAPABILITIES] = core_capabilities(config)
    _setup_shell(app, config)

    async def mailer_lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        if owns_mailer:
            await app[MAILER].close()

    app.cleanup_ctx.append(mailer_lifecycle)
    return app


def _setup_shell(app: web.Application, config: Config) -> None:
    """The bundled web shell is served last, so API routes always win."""
    from localcore.shell import setup_shell

    setup_shell(app, config.web_root or default_web_root())
