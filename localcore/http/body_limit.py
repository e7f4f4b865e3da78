"""Refuse bodies over ``BODY_LIMIT_BYTES`` before reading them (413 ``ctp_body_too_large``).

The declared ``Content-Length`` is checked here; chunked bodies are capped by aiohttp's
``client_max_size`` (set to the same limit by ``create_app``) while they are read.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import HttpError
from localcore.http.handler import Handler


def body_limit_middleware(limit: int) -> web.middlewares.Middleware:  # type: ignore[name-defined]
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        length = request.content_length
        if length is not None and length > limit:
            raise HttpError(413, "ctp_body_too_large", f"Request body is too large (limit {limit} bytes)")
        try:
            return await handler(request)
        except web.HTTPRequestEntityTooLarge:
            raise HttpError(413, "ctp_body_too_large",
                            f"Request body is too large (limit {limit} bytes)") from None

    return middleware
