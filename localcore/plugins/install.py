"""Installing plugins on an app built by ``create_app``: after core's features, before the capabilities
document and the shell.

Each route goes through the route catalog, so it is in ``/api/openapi.json`` and on the same router as
core's: the guards (trusted hosts, body limit, origin check, auth gate, rate limits), the error envelope
and the request id apply to it exactly as to a core route. A route that collides with one already there
(core's, or another plugin's: same method and path, whatever the parameter names) is refused, as is a
plugin name that is already taken (capabilities are keyed by it).
"""

from __future__ import annotations

import inspect
import re
from collections.abc import Iterable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from localcore.appkeys import RATE_LIMITER
from localcore.http.families import ROUTE_FAMILIES
from localcore.http.handler import Handler
from localcore.http.identity import require_identity
from localcore.http.openapi import RouteCatalog
from localcore.http.ratelimit import Rule, by_ip_and_user, colon_style
from localcore.http.validation import parse_body
from localcore.plugins.plugin import Plugin, PluginError, PluginRoute

__all__ = ["RESERVED_NAMES", "install_plugins"]

#: Top-level keys of ``/api/v1/capabilities`` that core owns.
RESERVED_NAMES = frozenset({"core", "credits"})
_PARAM = re.compile(r"\{[^}]*\}")


def _shape(path: str) -> str:
    """A path with its parameters unnamed: ``/a/{id}`` and ``/a/{workspaceId}`` are the same route."""
    return _PARAM.sub("{}", path.rstrip("/") or "/")


def _taken(app: web.Application) -> dict[tuple[str, str], str]:
    taken: dict[tuple[str, str], str] = {}
    for route in app.router.routes():
        info = route.resource.canonical if route.resource is not None else ""
        if route.resource is not None and route.resource.name == "shell":
            continue
        taken[(route.method.upper(), _shape(info))] = info
    return taken


def _pattern(canonical: str) -> re.Pattern[str]:
    """What a registered path matches (aiohttp's ``{name}`` and ``{name:regex}`` parameters)."""
    parts: list[str] = []
    for piece in re.split(r"(\{[^}]*\})", canonical):
        if piece.startswith("{") and piece.endswith("}"):
            _, _, regex = piece[1:-1].partition(":")
            parts.append(f"(?:{regex})" if regex else "[^{}/]+")
        else:
            parts.append(re.escape(piece))
    return re.compile("".join(parts))


def _collides(taken: dict[tuple[str, str], str], method: str, path: str) -> str | None:
    """The existing route ``method path`` would collide with: the same route (parameter names aside),
    or an earlier parameterised one that would answer this literal path first (shadowing it)."""
    shape = _shape(path)
    for key in ((method, shape), ("*", shape)):
        if key in taken:
            return taken[key]
    if "{" not in path:
        for (other_method, _), canonical in taken.items():
            if other_method in (method, "*") and "{" in canonical and _pattern(canonical).fullmatch(path):
                return canonical
    return None


def _to_response(result: Any, status: int) -> web.StreamResponse:
    if isinstance(result, web.StreamResponse):
        return result
    if isinstance(result, BaseModel):
        return web.json_response(result.model_dump(mode="json", by_alias=True), status=status)
    if result is None and status == 204:
        return web.Response(status=204)
    return web.json_response(result, status=status)


def _wrap(route: PluginRoute) -> Handler:
    handler, body_model, status, auth = route.handler, route.body, route.status, route.auth

    async def plugin_handler(request: web.Request) -> web.StreamResponse:
        if auth:
            await require_identity(request)  # the auth gate already did this under /api/v1/
        if body_model is not None:
            body = await parse_body(request, body_model)
            result = await handler(request, body=body)
        else:
            result = await handler(request)
        return _to_response(result, status)

    plugin_handler.__name__ = getattr(handler, "__name__", "plugin_handler")
    plugin_handler.__qualname__ = getattr(handler, "__qualname__", plugin_handler.__name__)
    return plugin_handler


def _check_route(plugin: Plugin, route: PluginRoute, app: web.Application) -> None:
    where = f"plugin {plugin.name!r}: {route.method} {route.path}"
    if not inspect.iscoroutinefunction(route.handler):
        raise PluginError(f"{where}: the handler must be an async function")
    if route.body is not None:
        parameters = inspect.signature(route.handler).parameters.values()
        if not any(p.name == "body" or p.kind is inspect.Parameter.VAR_KEYWORD for p in parameters):
            raise PluginError(f"{where}: the route has a body model, so the handler takes (request, body)")
    if not route.auth:
        family = _family_for(app, route.path)
        if family is not None:
            raise PluginError(f"{where}: auth=False, but every route under {family} needs a session; "
                              "put public routes outside it (e.g. under /api/)")


def _family_for(app: web.Application, path: str) -> str | None:
    families = app.get(ROUTE_FAMILIES)
    if families is None:
        return None
    family = families.for_path(path)
    return family.prefix if family.needs_session and path not in family.public else None


def install_plugins(app: web.Application, catalog: RouteCatalog, plugins: Iterable[Plugin]) -> dict[str, Any]:
    """Install ``plugins`` on ``app`` in order; returns their capabilities entries, keyed by name.
    Raises :class:`PluginError` before registering anything of the offending plugin (plugins before it
    stay installed: an app whose ``create_app`` raised must not be started)."""
    capabilities: dict[str, Any] = {}
    names: set[str] = set()
    for plugin in plugins:
        if not isinstance(plugin, Plugin):
            raise PluginError(f"{plugin!r} is not a localcore.Plugin")
        if plugin.name in RESERVED_NAMES:
            raise PluginError(f"plugin name {plugin.name!r} is reserved by core")
        if plugin.name in names:
            raise PluginError(f"two plugins are named {plugin.name!r}")
        names.add(plugin.name)
        taken = _taken(app)
        for route in plugin.routes:
            _check_route(plugin, route, app)
            clash = _collides(taken, route.method, route.path)
            if clash is not None:
                raise PluginError(f"plugin {plugin.name!r}: {route.method} {route.path} collides with the "
                                  f"existing route {route.method} {clash}; choose another path")
            taken[(route.method, _shape(route.path))] = route.path
        rules = tuple(Rule(route.method, colon_style(route.path), route.rate_limit[0], route.rate_limit[1],
                           by_ip_and_user) for route in plugin.routes if route.rate_limit is not None)
        if rules:
            app[RATE_LIMITER].add_rules(rules)
        for route in plugin.routes:
            catalog.add(app.router, route.method, route.path, _wrap(route), summary=route.summary or
                        f"{route.method} {route.path} ({plugin.name})", tag=plugin.name, body=route.body,
                        response=route.response, auth=route.auth, status=route.status)
        for hook in plugin.startup_hooks:
            app.on_startup.append(hook)
        for hook in plugin.cleanup_hooks:
            app.on_cleanup.append(hook)
        plugin.setup(app)
        if plugin.capabilities is not None:
            capabilities[plugin.name] = plugin.capabilities
    return capabilities

