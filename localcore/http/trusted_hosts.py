"""Refuse requests whose ``Host`` is not ours (DNS-rebinding defence for a server on loopback).

A web page on ``evil.example`` that rebinds its name to 127.0.0.1 would otherwise talk to the local server
with the browser's same-origin blessing. ``TRUSTED_HOSTS`` (comma-separated, ``*`` for any) overrides the
default: loopback names, the bind host and the host of ``BETTER_AUTH_URL``.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import HttpError
from localcore.http.handler import Handler


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def trusted_hosts_middleware(hosts: tuple[str, ...]) -> web.middlewares.Middleware:  # type: ignore[name-defined]
    allowed = frozenset(h.lower() for h in hosts)
    allow_any = "*" in allowed

    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        if not allow_any:
            host = _hostname(request.headers.get("Host", ""))
            if host and host not in allowed:
                raise HttpError(400, "invalid_host", "Invalid Host header")
        return await handler(request)

    return middleware
