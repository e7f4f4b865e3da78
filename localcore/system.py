"""System routes: ``/health``, ``/api/v1/config``, ``/api/v1/capabilities``, ``/api/openapi.json`` and the API
reference page ``/api/docs``."""

from __future__ import annotations

import asyncio
import json
import logging
from typing import Any

from aiohttp import web
from pydantic import BaseModel, ConfigDict

from localcore import CORE_CONTRACT_VERSION, __version__
from localcore.appkeys import BACKEND, CAPABILITIES, CATALOG, CONFIG, RATE_LIMITER
from localcore.config import Config
from localcore.http.errors import envelope
from localcore.http.families import ROUTE_FAMILIES, RouteFamily
from localcore.http.openapi import Problem, RouteCatalog
from localcore.shell import serve_index

log = logging.getLogger("localcore.health")
PING_TIMEOUT_SECONDS = 2.0


class HealthResponse(BaseModel):
    ok: bool


class Features(BaseModel):
    githubOauth: bool
    googleOauth: bool
    invitesEnabled: bool
    sendWelcomeEmail: bool


class RuntimeConfig(BaseModel):
    model_config = ConfigDict(extra="forbid")
    appId: str
    appName: str
    appLogo: str | None
    apiBase: str
    features: Features


async def health(request: web.Request) -> web.Response:
    backend = request.app[BACKEND]
    try:
        # asyncio.timeout, not wait_for: no task per request, only a timer
        async with asyncio.timeout(PING_TIMEOUT_SECONDS):
            await backend.ping()
    except TimeoutError:
        return envelope(request, 503, "db_unavailable",
                        f"Database ping timed out after {int(PING_TIMEOUT_SECONDS * 1000)}ms", builtin=True)
    except Exception as exc:  # noqa: BLE001 - any driver failure means "unavailable"
        log.debug("health: database ping failed: %s", type(exc).__name__)  # the backend logs the outage
        return envelope(request, 503, "db_unavailable", "Database unavailable", builtin=True)
    return web.Response(body=_HEALTHY, content_type="application/json")


_HEALTHY = json.dumps({"ok": True}).encode()


async def runtime_config(request: web.Request) -> web.Response:
    return web.json_response(request.app[CONFIG].public_payload())


async def capabilities(request: web.Request) -> web.Response:
    return web.json_response(request.app[CAPABILITIES])


async def openapi(request: web.Request) -> web.Response:
    app = request.app
    document = app[CATALOG].document(title="localcore", version=__version__, families=app[ROUTE_FAMILIES],
                                     rate_limited=app[RATE_LIMITER].rules, cookie_name=app[CONFIG].cookie_name)
    return web.json_response(document)


def core_capabilities(config: Config, contributors: dict[str, dict[str, Any]] | None = None) -> dict[str, Any]:
    """Computed once at start-up; contributors merge shallowly by top-level key."""
    mail = config.mail_enabled
    result: dict[str, Any] = {
        "core": {
            "version": CORE_CONTRACT_VERSION,
            "features": {
                "invitesEnabled": config.features.invites_enabled,
                "githubOauth": False,  # not implemented: never advertised
                "googleOauth": config.google_enabled,
                "emailFlows": mail,
            },
            "auth": {
                "emailPassword": True,
                "github": False,
                "google": config.google_enabled,
                "emailVerification": mail,
                "passwordReset": mail,
                "magicLink": mail,
            },
        },
    }
    for name, value in (contributors or {}).items():
        if value is not None:
            result[name] = value
    return result


#: Everything under ``/api/``: the core envelope, never cached.
API_FAMILY = RouteFamily("api", "/api/")
#: The versioned API: a session is needed except for the public runtime configuration.
API_V1_FAMILY = RouteFamily("api-v1", "/api/v1/", needs_session=True, public=frozenset({"/api/v1/config"}))


def setup_system_routes(app: web.Application, catalog: RouteCatalog) -> None:
    app[ROUTE_FAMILIES].add(API_FAMILY)
    app[ROUTE_FAMILIES].add(API_V1_FAMILY)
    router = app.router
    catalog.add(router, "GET", "/health", health, summary="Liveness and database readiness", tag="system",
                response=HealthResponse, storage=False,  # it reports the outage itself, without Retry-After
                raises=[Problem(503, "db_unavailable", "Database unavailable", builtin=True),
                        Problem(503, "db_unavailable", "Database ping timed out after 2000ms", builtin=True)])
    catalog.add(router, "GET", "/api/v1/config", runtime_config, summary="Public runtime configuration",
                tag="system", response=RuntimeConfig, storage=False)
    catalog.add(router, "GET", "/api/v1/capabilities", capabilities, summary="Server capabilities",
                tag="system", response=dict[str, Any], auth=True)
    catalog.add(router, "GET", "/api/openapi.json", openapi, summary="This OpenAPI document", tag="system",
                response=dict[str, Any], storage=False)
    catalog.add(router, "GET", "/api/docs", serve_index, summary="The interactive API reference (a shell page "
                "that renders this document)", tag="system", storage=False, shell_page=True)
