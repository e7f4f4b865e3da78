"""Per-request facts every layer reads: the request id and the client IP.

The request id is the incoming ``x-request-id`` when it is 1..128 characters, else a new UUID v4; it is
echoed on every response. The client IP honours the first ``X-Forwarded-For`` entry only when the direct
peer is a loopback proxy (or ``TRUST_PROXY`` is on), so a remote client cannot spoof its rate-limit key.
"""

from __future__ import annotations

import ipaddress
import uuid

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
#: ``TRUST_PROXY=true``: honour ``X-Forwarded-For`` from any peer (a reverse proxy on another host).
TRUST_PROXY = web.AppKey("trust_proxy", bool)


def request_id(request: web.Request) -> str:
    existing: str | None = request.get(REQUEST_ID)
    if existing is not None:
        return existing
    incoming = request.headers.get("x-request-id", "")
    value = incoming if 1 <= len(incoming) <= 128 and incoming.isprintable() else str(uuid.uuid4())
    request[REQUEST_ID] = value
    return value


def _is_loopback(address: str | None) -> bool:
    if not address:
        return True  # unix socket / test transport
    try:
        return ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def client_ip(request: web.Request) -> str:
    known: str | None = request.get(CLIENT_IP)
    if known is not None:
        return known
    peer = request.remote or ""
    forwarded = request.headers.get("x-forwarded-for", "")
    if forwarded and (request.config_dict.get(TRUST_PROXY, False) or _is_loopback(peer)):
        first = forwarded.split(",", 1)[0].strip()
        value = first or peer
    else:
        value = peer or "unknown"
    request[CLIENT_IP] = value
    return value


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["x-request-id"] = request_id(request)
