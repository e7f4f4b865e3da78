"""Refuse bodies over ``BODY_LIMIT_BYTES`` before reading them (413 ``ctp_body_too_large``).

The declared ``Content-Length`` is checked here; chunked bodies are capped by aiohttp's
``client_max_size`` (set to the same limit by ``create_app``) while they are read, and the error
middleware renders that as the same 413.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import HttpError
from localcore.http.handler import Guard


def body_limit_guard(limit: int) -> Guard:
    async def guard(request: web.Request) -> None:
        length = request.content_length
        if length is not None and length > limit:
            raise HttpError(413, "ctp_body_too_large", f"Request body is too large (limit {limit} bytes)")

    return guard
