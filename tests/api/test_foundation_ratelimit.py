"""Rate-limit machinery: counters in the backend, shared by every app (process) on it, with Retry-After."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from backends import open_backend
from localcore import load_config
from localcore.clock import ManualClock
from localcore.config import Config
from localcore.http.errors import error_middleware
from localcore.http.handler import guards_middleware
from localcore.http.ratelimit import RateLimiter, Rule, add_rate_limit_headers, by_ip
from localcore.http.request_context import TRUST_PROXY, add_request_id_header
from localcore.store import Backend

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
RULES = (Rule("POST", "/limited/:id", 5, "1 minute", by_ip),)


def config(**env: str) -> Config:
    return load_config(env={"LOCALCORE_ENV": "test", "TRUSTED_HOSTS": "*", **env})


def limited_app(backend: Backend, clock: ManualClock, cfg: Config) -> web.Application:
    limiter = RateLimiter(backend.rate_limits, clock, cfg, rules=RULES)
    app = web.Application(middlewares=[error_middleware, guards_middleware([limiter.guard])])
    app[TRUST_PROXY] = cfg.trust_proxy

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({"ok": True})

    app.router.add_post("/limited/{id}", ok)
    app.router.add_post("/free", ok)
    app.on_response_prepare.append(add_request_id_header)
    app.on_response_prepare.append(add_rate_limit_headers)
    return app


async def test_the_sixth_request_in_a_window_is_429_with_retry_after(
        aiohttp_client: ClientFactory, backend: Backend, clock: ManualClock) -> None:
    client = await aiohttp_client(limited_app(backend, clock, config()))
    statuses = [(await client.post("/limited/a")).status for _ in range(5)]
    assert statuses == [200] * 5
    refused = await client.post("/limited/a")
    assert refused.status == 429
    assert refused.headers["Retry-After"] == "60"
    body = await refused.json()
    assert body["code"] == "rate_limited" and body["error"] == "rate_limited"
    assert "Retry after 60 seconds" in body["message"]
    assert body["requestId"] == refused.headers["x-request-id"]
    clock.advance(seconds=30)
    assert (await client.post("/limited/a")).headers["Retry-After"] == "30"
    clock.advance(seconds=31)
    again = await client.post("/limited/a")
    assert again.status == 200
    assert again.headers["x-ratelimit-limit"] == "5" and again.headers["x-ratelimit-remaining"] == "4"


async def test_keys_and_unlimited_routes_are_independent(
        aiohttp_client: ClientFactory, backend: Backend, clock: ManualClock) -> None:
    client = await aiohttp_client(limited_app(backend, clock, config(TRUST_PROXY="1")))
    for n in range(5):  # the client's own left-hand entries change nothing: the proxy's entry is the key
        await client.post("/limited/a", headers={"X-Forwarded-For": f"10.9.9.{n}, 1.2.3.4"})
    assert (await client.post("/limited/a", headers={"X-Forwarded-For": "1.2.3.4"})).status == 429
    assert (await client.post("/limited/a", headers={"X-Forwarded-For": "5.6.7.8"})).status == 200
    for _ in range(10):
        assert (await client.post("/free")).status == 200


async def test_overrides_replace_max_and_window(aiohttp_client: ClientFactory, backend: Backend,
                                                clock: ManualClock) -> None:
    cfg = config(RATE_LIMIT_OVERRIDES_JSON='{"POST /limited/:id": {"max": 2, "window": "1 second"}}')
    client = await aiohttp_client(limited_app(backend, clock, cfg))
    assert [(await client.post("/limited/x")).status for _ in range(3)] == [200, 200, 429]
    clock.advance(seconds=1.5)
    assert (await client.post("/limited/x")).status == 200


async def test_two_apps_on_one_database_share_the_counters(
        aiohttp_client: ClientFactory, backend: Backend, backend_url: str, clock: ManualClock) -> None:
    if backend.kind == "memory":
        other: Backend = backend  # one process: the same object is the only way to share memory
    else:
        other = await open_backend(backend_url, clock=clock)
    try:
        first = await aiohttp_client(limited_app(backend, clock, config()))
        second = await aiohttp_client(limited_app(other, clock, config()))
        for client in (first, second, first, second, first):
            assert (await client.post("/limited/s")).status == 200
        assert (await second.post("/limited/s")).status == 429
        assert (await first.post("/limited/s")).status == 429
    finally:
        if other is not backend:
            await other.close()


async def test_disabled_limits_count_nothing(aiohttp_client: ClientFactory, backend: Backend,
                                             clock: ManualClock) -> None:
    client = await aiohttp_client(limited_app(backend, clock, config(LOCALCORE_RATE_LIMITS="off")))
    assert {(await client.post("/limited/a")).status for _ in range(8)} == {200}


async def test_the_default_table_covers_the_real_auth_paths() -> None:
    from localcore.auth import AUTH_RATE_LIMITS as DEFAULT_RULES

    table = {(r.method, r.path): (r.max, r.window) for r in DEFAULT_RULES}
    assert table[("POST", "/auth/sign-in/email")] == (5, "1 minute")
    assert table[("POST", "/auth/sign-up/email")] == (3, "1 hour")
    assert table[("POST", "/auth/request-password-reset")] == (3, "1 hour")
    assert table[("POST", "/auth/send-verification-email")] == (3, "1 hour")
    assert table[("POST", "/auth/sign-in/magic-link")] == (5, "1 minute")
    assert ("POST", "/auth/sign-out") not in table


def _client_ip_with(hops: int, forwarded: str, peer: str) -> str:
    from aiohttp.test_utils import make_mocked_request

    from localcore.http.request_context import client_ip

    app = web.Application()
    app[TRUST_PROXY] = hops
    request = make_mocked_request("GET", "/", headers={"X-Forwarded-For": forwarded}, app=app)
    request._transport_peername = (peer, 5000)
    return client_ip(request)


@pytest.mark.parametrize("peer", ["127.0.0.1", "203.0.113.9"])
async def test_forwarded_for_is_ignored_without_trust_proxy_even_from_loopback(peer: str) -> None:
    assert _client_ip_with(0, "1.2.3.4, 10.0.0.1", peer) == peer


@pytest.mark.parametrize(("hops", "forwarded", "client"), [
    (1, "1.2.3.4, 10.0.0.1", "10.0.0.1"),          # the proxy appended 10.0.0.1; 1.2.3.4 is the client's word
    (2, "1.2.3.4, 198.51.100.7, 10.0.0.1", "198.51.100.7"),
    (2, "198.51.100.7", "198.51.100.7"),           # a shorter chain: the furthest entry a proxy vouches for
    (1, " , ", "203.0.113.9"),                     # nothing usable: the peer
])
async def test_trust_proxy_takes_the_right_most_untrusted_entry(hops: int, forwarded: str, client: str) -> None:
    assert _client_ip_with(hops, forwarded, "203.0.113.9") == client
