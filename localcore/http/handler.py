"""The callable types the HTTP layer is built from."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

from aiohttp import web
from aiohttp.typedefs import Middleware

Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]
#: A request check: returns normally to let the request through, raises a ``LocalcoreError`` to refuse it.
Guard = Callable[[web.Request], Awaitable[None]]


def guards_middleware(guards: list[Guard]) -> Middleware:
    """Run the guards in order, then the handler: one middleware layer instead of one per concern."""
    checks = tuple(guards)

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        for check in checks:
            await check(request)
        return await handler(request)

    return middleware
