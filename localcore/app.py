"""``create_app``: the whole HTTP application, wired in one readable place.

Middleware order (outermost first) — each is one module under ``localcore/http``:

1. CORS             allow-listed origins, also on error responses
2. errors           every failure becomes the route family's envelope; no internals leak
3. guards, in order (one middleware layer; each guard refuses by raising):
   trusted hosts    refuse foreign ``Host`` headers (DNS rebinding); absent when ``TRUSTED_HOSTS=*``
   body limit       413 before reading an oversized body
   origin check     browser writes must come from an allowed origin (CSRF, login CSRF)
   auth gate        route families that need a session answer 401 without one
   rate limits      counters in the backend, shared by every process
   audit context    makes the client (IP, user agent, request id) known to the audit events the
                    services build (``localcore/audit/context.py``); never refuses
The request id and the CSP nonce are created lazily on first use (``request_context.request_id``,
``security_headers.csp_nonce``); security headers, ``x-request-id`` and the rate-limit headers are
added by one ``on_response_prepare`` hook so static files and errors get them too. Every layer costs
on every request, so the list stays this short.

Features are set up in dependency order, each given what it needs (or refusing with ``WiringError``):
system routes, auth (returns the service new-user hooks plug into), workspaces (given auth), the dev
mailbox, credits, the plugins (``localcore/plugins``: their routes through the same catalog and guards,
refused when they collide with a core route), then the capabilities document from what the features and
plugins contribute, and the shell last so that API routes always win. Each feature declares its route
family (``http/families.py``) and its rate-limit rules where it registers its routes.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Iterable
from pathlib import Path

from aiohttp import web

from localcore.appkeys import BACKEND, CAPABILITIES, CATALOG, CLOCK, CONFIG, MAILER, RATE_LIMITER
from localcore.audit import request_context_guard, setup_audit
from localcore.auth import setup_auth
from localcore.clock import Clock, system_clock
from localcore.config import Config
from localcore.http.body_limit import body_limit_guard
from localcore.http.cors import cors_middleware
from localcore.http.errors import error_middleware
from localcore.http.families import ROUTE_FAMILIES, RouteFamilies
from localcore.http.handler import guards_middleware
from localcore.http.identity import auth_gate
from localcore.http.metrics import METRICS, Metrics, StorageProbe, metrics_middleware, setup_metrics_route
from localcore.http.openapi import RouteCatalog
from localcore.http.origin_check import origin_check_guard
from localcore.http.ratelimit import RateLimiter, write_rate_limit_headers
from localcore.http.request_context import TRUST_PROXY, write_request_id
from localcore.http.security_headers import setup_security_headers
from localcore.http.trusted_hosts import trusted_hosts_guard
from localcore.mail import Mailer, create_transport
from localcore.mail.dev_clock import setup_dev_clock_routes
from localcore.mail.devmailbox import DevMailbox
from localcore.mail.routes import MailboxKey, setup_dev_mail_routes
from localcore.metering import setup_credits
from localcore.plugins import Plugin, load_plugin
from localcore.plugins.install import install_plugins
from localcore.store import Backend
from localcore.system import core_capabilities, setup_system_routes
from localcore.workspaces import setup_workspaces


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
               clock: Clock | None = None, plugins: Iterable[Plugin | str] = ()) -> web.Application:
    """The whole HTTP app over an opened backend (which the caller keeps and closes). ``plugins``:
    :class:`~localcore.Plugin` objects (or ``MODULE[:ATTR]`` specs) installed after core's features, in
    order; exactly these (``localcore.plugins.configured_plugins`` finds the configured and installed
    ones, as the CLI does). Raises ``PluginError`` for a plugin route that collides with another."""
    clock = clock or system_clock
    rate_limiter = RateLimiter(backend.rate_limits, clock, config)
    guards = [
        trusted_hosts_guard(tuple(config.trusted_hosts)),
        body_limit_guard(config.body_limit_bytes),
        origin_check_guard(config.cookie_name, config.trusted_origins),
        auth_gate,
        rate_limiter.guard,
        request_context_guard,
    ]
    metrics = Metrics(storage=_storage_probe(backend)) if config.metrics_enabled else None
    app = web.Application(
        client_max_size=config.body_limit_bytes,
        middlewares=[
            *([metrics_middleware(metrics)] if metrics is not None else []),
            cors_middleware(tuple(config.cors_origins)),
            error_middleware,
            guards_middleware([g for g in guards if g is not None]),
        ],
    )
    catalog = RouteCatalog()
    owns_mailer = mailer is None
    app[CONFIG] = config
    app[BACKEND] = backend
    app[CLOCK] = clock
    app[MAILER] = mailer if mailer is not None else build_mailer(config, clock)
    app[CATALOG] = catalog
    app[ROUTE_FAMILIES] = RouteFamilies()
    app[RATE_LIMITER] = rate_limiter
    app[TRUST_PROXY] = config.trust_proxy
    if metrics is not None:
        app[METRICS] = metrics
        app[MAILER].on_delivery = metrics.mail_sent
        setup_metrics_route(app, metrics, config.metrics_token)
    setup_security_headers(app, config, also=(write_request_id, write_rate_limit_headers))

    # Features, each registering its routes in the catalog (and so in /api/openapi.json).
    setup_system_routes(app, catalog)
    auth = setup_auth(app, catalog)
    setup_workspaces(app, catalog, auth=auth)
    setup_audit(app, catalog)
    mailbox_key = MailboxKey(config.dev_mailbox_token, f"{config.app_id}.dev_mailbox",
                             secure_cookie=config.auth.session_cookie_secure)
    setup_dev_mail_routes(app, MAILER, mailbox_key, catalog)
    setup_dev_clock_routes(app, mailbox_key, catalog)
    credits = setup_credits(app, catalog)
    if metrics is not None:
        credits.service.observer = metrics.ledger_operation
    plugin_capabilities = install_plugins(app, catalog, [p if isinstance(p, Plugin) else load_plugin(p)
                                                         for p in plugins])
    app[CAPABILITIES] = core_capabilities(config, contributors={"credits": credits.capability(),
                                                                **plugin_capabilities})
    _setup_shell(app, config)

    async def mailer_lifecycle(app: web.Application) -> AsyncIterator[None]:
        yield
        if owns_mailer:
            await app[MAILER].close()

    app.cleanup_ctx.append(mailer_lifecycle)
    return app


def _storage_probe(backend: Backend) -> StorageProbe | None:
    """The backend's connection state for ``/metrics``, when it reports one (pooled SQL backends do)."""
    stats = getattr(backend, "connection_stats", None)
    return stats if callable(stats) else None


def _setup_shell(app: web.Application, config: Config) -> None:
    """The bundled web shell is served last, so API routes always win."""
    from localcore.shell import setup_shell

    setup_shell(app, config.web_root or default_web_root())
