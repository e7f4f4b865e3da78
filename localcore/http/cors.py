"""CORS for an allow-list of origins (``CORS_ORIGINS``), with credentials (docs/compatibility.md, fix 14).

An empty allow-list means no cross-origin access at all (never "allow any": with credentials, that would
let every site read every signed-in response). Preflights from an allowed origin get 204 with the methods
GET, HEAD, POST, PUT, PATCH and DELETE (the upstream default omitted the last three, which broke
cross-origin SPAs). A disallowed origin gets no ``Access-Control-Allow-Origin``; the request itself is
still processed (the origin check refuses cookie-carrying writes separately).
"""

from __future__ import annotations

from aiohttp import web
from aiohttp.typedefs import Middleware

from localcore.http.handler import Handler

ALLOWED_METHODS = "GET,HEAD,POST,PUT,PATCH,DELETE"


def cors_middleware(origins: tuple[str, ...]) -> Middleware:
    allowed = frozenset(o.rstrip("/").lower() for o in origins)

    def is_allowed(origin: str) -> bool:
        return origin.rstrip("/").lower() in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        origin = request.headers.get("Origin")
        if (request.method == "OPTIONS" and origin
                and "Access-Control-Request-Method" in request.headers):
            if not is_allowed(origin):
                return web.Response(status=204, headers={"Vary": "Origin"})
            headers = {
                "Access-Control-Allow-Origin": origin,
                "Access-Control-Allow-Credentials": "true",
                "Access-Control-Allow-Methods": ALLOWED_METHODS,
                "Access-Control-Max-Age": "600",
                "Vary": "Origin, Access-Control-Request-Headers",
            }
            requested = request.headers.get("Access-Control-Request-Headers")
            if requested:
                headers["Access-Control-Allow-Headers"] = requested
            return web.Response(status=204, headers=headers)
        response = await handler(request)
        if origin and is_allowed(origin):
            _decorate(response, origin)
        return response

    return middleware


def _decorate(response: web.StreamResponse, origin: str) -> None:
    response.headers["Access-Control-Allow-Origin"] = origin
    response.headers["Access-Control-Allow-Credentials"] = "true"
    response.headers["Access-Control-Expose-Headers"] = "x-request-id, Retry-After"
    vary = response.headers.get("Vary")
    response.headers["Vary"] = f"{vary}, Origin" if vary and "Origin" not in vary else (vary or "Origin")
