"""Per-request facts every layer reads: the request id and the client IP.

The request id is the incoming ``x-request-id`` when it is 1..128 printable characters, else a new UUID
v4; it is echoed on every response.

The client IP is the TCP peer, unless ``TRUST_PROXY`` says how many reverse proxies stand in front
(``true`` = 1, or a number of hops N). Each trusted proxy appends the address it received the request from
to ``X-Forwarded-For``, so the client is the N-th entry from the right: everything further left was
written by the client itself and is ignored (as Werkzeug's ProxyFix and Express's ``trust proxy`` do).
Without ``TRUST_PROXY`` the header is ignored entirely, even from a loopback peer: otherwise any local
process, or a client behind a local proxy, could pick a fresh rate-limit key for every request.
"""

from __future__ import annotations

import os

from aiohttp import web

REQUEST_ID = web.RequestKey("request_id", str)
CLIENT_IP = web.RequestKey("client_ip", str)
#: The number of trusted reverse-proxy hops (``TRUST_PROXY``); 0 = ``X-Forwarded-For`` is ignored.
TRUST_PROXY = web.AppKey("trust_proxy", int)


def new_request_id() -> str:
    """A random UUID v4 string, as ``str(uuid.uuid4())`` but without building a ``UUID`` (a third of its
    cost; this runs on every request)."""
    raw = bytearray(os.urandom(16))
    raw[6] = (raw[6] & 0x0F) | 0x40
    raw[8] = (raw[8] & 0x3F) | 0x80
    h = raw.hex()
    return f"{h[:8]}-{h[8:12]}-{h[12:16]}-{h[16:20]}-{h[20:]}"


def request_id(request: web.Request) -> str:
    existing: str | None = request.get(REQUEST_ID)
    if existing is not None:
        return existing
    incoming = request.headers.get("x-request-id", "")
    value = incoming if 1 <= len(incoming) <= 128 and incoming.isprintable() else new_request_id()
    request[REQUEST_ID] = value
    return value


def forwarded_client(peer: str, forwarded: str, hops: int) -> str:
    """The client address behind ``hops`` trusted proxies; the peer when there are none or the header is
    empty. A chain shorter than ``hops`` yields its left-most entry, the furthest any proxy vouches for."""
    if hops <= 0 or not forwarded:
        return peer
    entries = [entry.strip() for entry in forwarded.split(",")]
    entries = [entry for entry in entries if entry]
    if not entries:
        return peer
    return entries[-min(hops, len(entries))]


def client_ip(request: web.Request) -> str:
    known: str | None = request.get(CLIENT_IP)
    if known is not None:
        return known
    peer = request.remote or "unknown"
    hops = request.config_dict.get(TRUST_PROXY, 0)
    value = forwarded_client(peer, request.headers.get("x-forwarded-for", ""), hops) if hops else peer
    request[CLIENT_IP] = value
    return value


def write_request_id(request: web.Request, response: web.StreamResponse) -> None:
    response.headers["x-request-id"] = request_id(request)


async def add_request_id_header(request: web.Request, response: web.StreamResponse) -> None:
    """``write_request_id`` as an ``on_response_prepare`` hook of its own (``create_app`` runs it inside
    the one headers hook instead)."""
    write_request_id(request, response)
