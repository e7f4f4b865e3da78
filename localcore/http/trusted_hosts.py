"""Refuse requests whose ``Host`` is not ours (DNS-rebinding defence for a server on loopback).

A web page on ``evil.example`` that rebinds its name to 127.0.0.1 would otherwise talk to the local server
with the browser's same-origin blessing. ``TRUSTED_HOSTS`` (comma-separated, ``*`` for any) overrides the
default: loopback names, the bind host and the host of ``BETTER_AUTH_URL``.
"""

from __future__ import annotations

from aiohttp import web

from localcore.errors import HttpError
from localcore.http.handler import Guard


def _hostname(host_header: str) -> str:
    host = host_header.strip().lower()
    if host.startswith("["):
        return host[: host.find("]") + 1] if "]" in host else host
    return host.rsplit(":", 1)[0] if host.count(":") == 1 else host


def trusted_hosts_guard(hosts: tuple[str, ...]) -> Guard | None:
    """The guard, or None when any host is allowed (``*``): then it costs nothing."""
    allowed = frozenset(h.lower() for h in hosts)
    if "*" in allowed:
        return None

    async def guard(request: web.Request) -> None:
        host = _hostname(request.headers.get("Host", ""))
        if host and host not in allowed:
            raise HttpError(400, "invalid_host", "Invalid Host header")

    return guard
