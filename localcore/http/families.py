"""Route families: a feature declares, where it registers its routes, how the cross-cutting layers treat
the paths under its prefix — so ``localcore/http`` knows no feature by its path.

A family says:
- ``envelope``: the shape of its error bodies (``core``, ``auth`` — better-auth's ``{code, message}`` —
  or ``nested`` — ``{error: {code, message}}``), and whether its 404s use better-auth's ``NOT_FOUND``;
- ``origin_code``: the code of its 403 when the origin check refuses a write;
- ``login_csrf``: every browser write must come from an allowed origin even without a session cookie (the
  sign-in routes: otherwise another local origin could sign the browser into an attacker's account);
- ``form_bodies``: ``application/x-www-form-urlencoded`` bodies are read like JSON;
- ``needs_session`` / ``public``: requests need a signed-in user, except the ``public`` paths (the auth
  gate answers 401 ``unauthorized`` first);
- ``private``: answers are ``Cache-Control: no-store`` (sessions, tokens, personal data).

The longest matching prefix wins; a path under no family belongs to :data:`DEFAULT_FAMILY` (core
envelope, not private: ``/health``, the shell's files).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, Literal

from aiohttp import web

Envelope = Literal["core", "auth", "nested"]


@dataclass(frozen=True, slots=True)
class RouteFamily:
    name: str
    prefix: str
    envelope: Envelope = "core"
    origin_code: str = "invalid_origin"
    login_csrf: bool = False
    form_bodies: bool = False
    needs_session: bool = False
    public: frozenset[str] = field(default_factory=frozenset)
    private: bool = True

    def owns(self, path: str) -> bool:
        return path.startswith(self.prefix) or path == self.prefix.rstrip("/")

    def error_body(self, *, code: str, message: str, request_id: str, builtin: bool) -> dict[str, Any]:
        """The error envelope of this family. Core: ``error`` is the message for application errors and
        the code for built-in ones (upstream's asymmetry)."""
        if self.envelope == "auth":
            return {"code": code, "message": message}
        if self.envelope == "nested":
            return {"error": {"code": code, "message": message}}
        return {"error": code if builtin else message, "code": code, "message": message, "requestId": request_id}

    def not_found_body(self, *, message: str, request_id: str) -> dict[str, Any]:
        if self.envelope == "auth":
            return {"code": "NOT_FOUND", "message": message}
        return {"error": "Not found", "code": "not_found", "message": message, "requestId": request_id}


DEFAULT_FAMILY = RouteFamily("default", "/", private=False)


class RouteFamilies:
    """The app's families, looked up by path (cached: a handful of prefixes, many requests)."""

    def __init__(self) -> None:
        self._families: list[RouteFamily] = []
        self._by_path: dict[str, RouteFamily] = {}

    def add(self, family: RouteFamily) -> RouteFamily:
        if any(f.prefix == family.prefix for f in self._families):
            raise ValueError(f"route family prefix {family.prefix!r} is declared twice")
        self._families.append(family)
        self._families.sort(key=lambda f: len(f.prefix), reverse=True)
        self._by_path.clear()
        return family

    def __iter__(self) -> Any:
        return iter(self._families)

    def for_path(self, path: str) -> RouteFamily:
        found = self._by_path.get(path)
        if found is None:
            found = next((f for f in self._families if f.owns(path)), DEFAULT_FAMILY)
            if len(self._by_path) < 4096:  # bounded: paths with ids are unbounded
                self._by_path[path] = found
        return found


ROUTE_FAMILIES = web.AppKey("route_families", RouteFamilies)


_REQUEST_FAMILY = web.RequestKey("route_family", RouteFamily)


def family_of(request: web.Request) -> RouteFamily:
    """The request's family, looked up once per request (the guards, the error envelope and the headers
    all ask)."""
    found = request.get(_REQUEST_FAMILY)
    if found is None:
        families = request.config_dict.get(ROUTE_FAMILIES)
        found = families.for_path(request.path) if families is not None else DEFAULT_FAMILY
        request[_REQUEST_FAMILY] = found
    return found
