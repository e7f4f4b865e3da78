"""``Plugin``: what a child app adds to localcore — routes, start-up/clean-up hooks, a raw-aiohttp escape
hatch and a capabilities entry — declared up front and installed by ``create_app`` (``install.py``).

::

    from pydantic import BaseModel
    from localcore import Plugin, require_role

    plugin = Plugin("notes", capabilities={"enabled": True})

    class NoteIn(BaseModel):
        text: str

    @plugin.post("/api/v1/workspaces/{id}/notes", body=NoteIn, response=NoteOut, summary="Add a note",
                 status=201)
    async def add_note(request, body: NoteIn) -> NoteOut:
        member = await require_role(request, request.match_info["id"], "editor")
        ...

A handler is ``async (request)`` — or ``async (request, body)`` when the route has a ``body`` model, which
is validated first (400 in core's validation envelope). It returns a ``web.StreamResponse``, a pydantic
model, or any JSON-serialisable value (sent with the route's ``status``).
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any, TypeVar, overload

from aiohttp import web
from pydantic import BaseModel

__all__ = ["AppHook", "Plugin", "PluginError", "PluginRoute", "RouteHandler"]

#: ``async (request)`` or ``async (request, body)``; returns a response, a pydantic model or JSON data.
RouteHandler = Callable[..., Awaitable[Any]]
#: ``async (app)``: a start-up or clean-up hook.
AppHook = Callable[[web.Application], Awaitable[None]]
SetupHook = Callable[[web.Application], None]
H = TypeVar("H", bound=RouteHandler)
A = TypeVar("A", bound=AppHook)
S = TypeVar("S", bound=SetupHook)

_NAME = re.compile(r"[A-Za-z][A-Za-z0-9_.-]{0,63}")
_METHODS = ("GET", "POST", "PUT", "PATCH", "DELETE")


class PluginError(RuntimeError):
    """A plugin that cannot be loaded or installed (unknown module, route collision, bad declaration):
    raised at start-up, naming the plugin."""


@dataclass(frozen=True, slots=True)
class PluginRoute:
    method: str
    path: str
    handler: RouteHandler
    body: type[BaseModel] | None
    response: Any
    summary: str
    auth: bool
    status: int
    #: ``(max, window)``, e.g. ``(10, "1 minute")``: counted per client IP and user, like core's limits.
    rate_limit: tuple[int, str] | None = None


class Plugin:
    """A named bundle of routes and hooks. ``capabilities``: this plugin's entry in
    ``/api/v1/capabilities`` (under ``name``); None: no entry."""

    def __init__(self, name: str, *, capabilities: Mapping[str, Any] | None = None) -> None:
        if not isinstance(name, str) or not _NAME.fullmatch(name):
            raise PluginError(f"plugin name {name!r} must be 1-64 letters, digits, '_', '-' or '.', "
                              "starting with a letter")
        self.name = name
        self.capabilities: dict[str, Any] | None = dict(capabilities) if capabilities is not None else None
        self.routes: list[PluginRoute] = []
        self.startup_hooks: list[AppHook] = []
        self.cleanup_hooks: list[AppHook] = []
        self.setup_hooks: list[SetupHook] = []

    def __repr__(self) -> str:
        return f"Plugin({self.name!r}, routes={len(self.routes)})"

    # ------------------------------------------------------------------ routes

    def route(self, method: str, path: str, *, body: type[BaseModel] | None = None, response: Any = None,
              summary: str = "", auth: bool = True, status: int = 200,
              rate_limit: tuple[int, str] | None = None) -> Callable[[H], H]:
        """Declare a route (installed with the plugin). ``body``: a pydantic model, validated and passed
        as ``body``; ``response``: the success schema (documented in ``/api/openapi.json``); ``auth``: a
        signed-in user is required (401 ``unauthorized`` otherwise — always so under ``/api/v1/``);
        ``status``: the success code; ``rate_limit``: ``(max, window)`` per client IP and user (429
        ``rate_limited`` past it; ``RATE_LIMIT_OVERRIDES_JSON`` can override it like any core rule)."""
        verb = method.upper()
        if verb not in _METHODS:
            raise PluginError(f"plugin {self.name!r}: unsupported method {method!r} (one of {', '.join(_METHODS)})")
        if not isinstance(path, str) or not path.startswith("/"):
            raise PluginError(f"plugin {self.name!r}: route path {path!r} must start with '/'")
        if body is not None and not (isinstance(body, type) and issubclass(body, BaseModel)):
            raise PluginError(f"plugin {self.name!r}: {verb} {path}: body must be a pydantic model class")

        if rate_limit is not None:
            self._check_rate_limit(verb, path, rate_limit)

        def register(handler: H) -> H:
            self.routes.append(PluginRoute(verb, path, handler, body, response, summary, auth, status, rate_limit))
            return handler

        return register

    def _check_rate_limit(self, verb: str, path: str, rate_limit: tuple[int, str]) -> None:
        from localcore.config import parse_window

        try:
            limit, window = rate_limit
            parse_window(window)
            valid = isinstance(limit, int) and not isinstance(limit, bool) and limit > 0
        except (TypeError, ValueError):
            valid = False
        if not valid:
            raise PluginError(f"plugin {self.name!r}: {verb} {path}: rate_limit must be (max > 0, window), "
                              "e.g. (10, '1 minute')")

    def get(self, path: str, *, body: type[BaseModel] | None = None, response: Any = None, summary: str = "",
            auth: bool = True, status: int = 200, rate_limit: tuple[int, str] | None = None) -> Callable[[H], H]:
        return self.route("GET", path, body=body, response=response, summary=summary, auth=auth,
                          status=status, rate_limit=rate_limit)

    def post(self, path: str, *, body: type[BaseModel] | None = None, response: Any = None, summary: str = "",
            auth: bool = True, status: int = 200, rate_limit: tuple[int, str] | None = None) -> Callable[[H], H]:
        return self.route("POST", path, body=body, response=response, summary=summary, auth=auth,
                          status=status, rate_limit=rate_limit)

    def put(self, path: str, *, body: type[BaseModel] | None = None, response: Any = None, summary: str = "",
            auth: bool = True, status: int = 200, rate_limit: tuple[int, str] | None = None) -> Callable[[H], H]:
        return self.route("PUT", path, body=body, response=response, summary=summary, auth=auth,
                          status=status, rate_limit=rate_limit)

    def patch(self, path: str, *, body: type[BaseModel] | None = None, response: Any = None, summary: str = "",
            auth: bool = True, status: int = 200, rate_limit: tuple[int, str] | None = None) -> Callable[[H], H]:
        return self.route("PATCH", path, body=body, response=response, summary=summary, auth=auth,
                          status=status, rate_limit=rate_limit)

    def delete(self, path: str, *, body: type[BaseModel] | None = None, response: Any = None, summary: str = "",
            auth: bool = True, status: int = 200, rate_limit: tuple[int, str] | None = None) -> Callable[[H], H]:
        return self.route("DELETE", path, body=body, response=response, summary=summary, auth=auth,
                          status=status, rate_limit=rate_limit)

    # ------------------------------------------------------------------ hooks

    def on_startup(self, hook: A) -> A:
        """``async hook(app)`` when the app starts (after core's own start-up)."""
        self.startup_hooks.append(hook)
        return hook

    def on_cleanup(self, hook: A) -> A:
        """``async hook(app)`` when the app shuts down."""
        self.cleanup_hooks.append(hook)
        return hook

    @overload
    def setup(self, target: web.Application) -> None: ...

    @overload
    def setup(self, target: S) -> S: ...

    def setup(self, target: web.Application | S) -> S | None:
        """The raw-aiohttp escape hatch. As a decorator, ``@plugin.setup`` registers ``hook(app)`` (plain
        function) to run when the plugin is installed, after its routes: it may add middleware-free
        routes, sub-apps, ``cleanup_ctx`` entries or app state. Called with the app, it runs them (the
        installer does this; a subclass may override it)."""
        if isinstance(target, web.Application):
            for hook in self.setup_hooks:
                hook(target)
            return None
        self.setup_hooks.append(target)
        return target
