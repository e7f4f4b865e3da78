"""The credits routes over HTTP (balance, history, checkout; scenario K137): auth, balance with the
lazy signup grant and packs, history limits, the kill switch, and checkout against fake Lemon Squeezy and
Stripe API servers on loopback (incl. provider failure → 502 and unknown pack → 400 with no provider call).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from backends.memory import MemoryBackend
from localcore import create_app, load_config
from localcore.clock import ManualClock
from localcore.errors import ConfigError
from localcore.store import Backend
from tests.api.credits_fixtures import (
    BASE_ENV,
    LS_ENV,
    STRIPE_ENV,
    ClientFactory,
    Credits,
    ls_uat,
    start,
    stripe_uat,
)

ServerFactory = Callable[..., Awaitable[TestServer]]
UNAUTHORIZED = {"error": {"code": "unauthorized", "message": "authentication required"}}
SAFE_MAX = 2**53 - 1


class FakeProvider:
    """A loopback stand-in for the Lemon Squeezy and Stripe APIs that records every request."""

    def __init__(self) -> None:
        self.requests: list[dict[str, Any]] = []
        self.status = 201
        self.answer: Any = None

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_post("/v1/checkouts", self._lemonsqueezy)
        app.router.add_post("/v1/checkout/sessions", self._stripe)
        return app

    async def _lemonsqueezy(self, request: web.Request) -> web.Response:
        self.requests.append({"headers": dict(request.headers), "json": json.loads(await request.read())})
        answer = self.answer or {"data": {"type": "checkouts", "id": "c1",
                                          "attributes": {"url": "https://shop.example/checkout/c1"}}}
        return web.json_response(answer, status=self.status)

    async def _stripe(self, request: web.Request) -> web.Response:
        form = await request.post()
        self.requests.append({"headers": dict(request.headers), "form": {k: str(v) for k, v in form.items()}})
        answer = self.answer or {"id": "cs_1", "url": "https://checkout.stripe.example/c/cs_1"}
        return web.json_response(answer, status=self.status if self.status != 201 else 200)


@pytest.fixture
async def provider(aiohttp_server: ServerFactory) -> tuple[FakeProvider, str]:
    fake = FakeProvider()
    server = await aiohttp_server(fake.app())
    return fake, str(server.make_url("")).rstrip("/")


async def memory_app(aiohttp_client: ClientFactory, clock: ManualClock, **env: str) -> Credits:
    return await start(aiohttp_client, MemoryBackend(clock), clock, **env)


# --------------------------------------------------------------------------- auth


@pytest.mark.parametrize(("method", "path"), [
    ("GET", "/api/credits/balance"), ("GET", "/api/credits/history"), ("POST", "/api/credits/checkout"),
    ("GET", "/api/credits/dev/checkouts/abc"),
])
async def test_credits_routes_need_a_session(aiohttp_client: ClientFactory, clock: ManualClock, method: str,
                                            path: str) -> None:
    app = await memory_app(aiohttp_client, clock)
    response = await app.client.request(method, path, json={})
    assert response.status == 401
    assert await response.json() == UNAUTHORIZED


# --------------------------------------------------------------------------- balance


async def test_balance_awards_the_signup_grant_once(aiohttp_client: ClientFactory, backend: Backend,
                                                    clock: ManualClock) -> None:
    app = await start(aiohttp_client, backend, clock, BORING_CREDITS_DEV_CHECKOUT="off")
    user = await app.user()
    status, body = await app.get("/api/credits/balance", user)
    assert status == 200
    assert body == {"enabled": True, "userId": user.id, "grantedMicros": 2_000_000, "usedMicros": 0,
                    "activeReservedMicros": 0, "remainingMicros": 2_000_000, "availableMicros": 2_000_000,
                    "debtMicros": 0, "currency": "credits", "checkoutEnabled": False}
    assert (await app.get("/api/credits/balance", user))[1]["grantedMicros"] == 2_000_000
    entries = (await app.get("/api/credits/history", user))[1]["entries"]
    assert [(e["kind"], e["amountMicros"], e["description"]) for e in entries] == \
        [("grant", 2_000_000, "Signup grant")]


async def test_signup_grant_amount_comes_from_configuration(aiohttp_client: ClientFactory,
                                                            clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock, BORING_CREDITS_SIGNUP_GRANT_EUR="0.5")
    user = await app.user()
    assert (await app.get("/api/credits/balance", user))[1]["grantedMicros"] == 500_000


async def test_debt_is_shown_as_debt_never_as_negative_balance(aiohttp_client: ClientFactory,
                                                               clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock)
    user = await app.user()
    await app.backend.metering.record_usage("u-1", user.id, 2_500_000, source="pi-chat")
    body = (await app.get("/api/credits/balance", user))[1]
    assert (body["remainingMicros"], body["availableMicros"], body["debtMicros"]) == (0, 0, 500_000)


async def test_kill_switch_reports_disabled_and_ignores_provider_settings(aiohttp_client: ClientFactory,
                                                                         clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock, BORING_CREDITS_ENABLED="0",
                           BORING_CREDITS_LS_WEBHOOK_SECRET="stale", BORING_CREDITS_MARGIN="0.5")
    user = await app.user()
    status, body = await app.get("/api/credits/balance", user)
    assert status == 200
    assert body == {"enabled": False, "userId": user.id, "grantedMicros": 0, "usedMicros": 0,
                    "activeReservedMicros": 0, "remainingMicros": SAFE_MAX, "availableMicros": SAFE_MAX,
                    "debtMicros": 0, "currency": "credits", "checkoutEnabled": False}
    assert await app.get("/api/credits/history", user) == (200, {"entries": []})
    assert (await app.backend.metering.get_balance(user.id)).granted_micros == 0  # nothing written
    response = await app.client.post("/api/credits/webhooks/lemonsqueezy", data=b"{}")
    assert response.status == 404
    caps = (await app.get("/api/v1/capabilities", user))[1]
    assert caps["credits"] == {"enabled": False, "checkout": None}


async def test_balance_lists_packs_without_provider_ids(aiohttp_client: ClientFactory, clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock, **LS_ENV)
    user = await app.user()
    body = (await app.get("/api/credits/balance", user))[1]
    assert body["checkoutEnabled"] is True
    assert body["packs"][0] == {"id": "10", "creditMicros": 10_000_000, "priceMinor": 1000, "currency": "EUR",
                                "label": "€10", "isDefault": True}
    assert [p["id"] for p in body["packs"]] == ["10", "15", "5", "9"]
    assert sum(p["isDefault"] for p in body["packs"]) == 1
    assert "912340" not in json.dumps(body) and "variant" not in json.dumps(body)


async def test_stripe_packs_include_the_custom_pack(aiohttp_client: ClientFactory, clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock, **STRIPE_ENV)
    user = await app.user()
    packs = (await app.get("/api/credits/balance", user))[1]["packs"]
    assert packs[-1] == {"id": "custom", "creditMicros": 0, "priceMinor": 500, "currency": "EUR",
                         "label": "Custom amount", "isDefault": False, "custom": True}
    assert "price_" not in json.dumps(packs)


# --------------------------------------------------------------------------- history


@pytest.mark.parametrize(("query", "count"), [
    ("", 20), ("?limit=999", 50), ("?limit=abc", 20), ("?limit=5abc", 5), ("?limit=0", 1), ("?limit=-3", 1),
    ("?limit=%207", 7), ("?limit=", 20),
])
async def test_history_limit_parsing(aiohttp_client: ClientFactory, clock: ManualClock, query: str,
                                     count: int) -> None:
    app = await memory_app(aiohttp_client, clock, BORING_CREDITS_SIGNUP_GRANT_EUR="0")
    user = await app.user()
    for n in range(60):
        await app.backend.metering.grant_once(user.id, f"topup:{n}", 1_000)
        clock.advance(seconds=1)
    status, body = await app.get(f"/api/credits/history{query}", user)
    assert status == 200
    assert len(body["entries"]) == count
    newest = body["entries"][0]
    assert newest["amountMicros"] == 1_000 and newest["kind"] == "grant"
    assert newest["createdAt"].endswith("Z") and newest["id"].startswith("g_") and len(newest["id"]) == 10


async def test_history_never_shows_another_users_rows(aiohttp_client: ClientFactory, clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock)
    alice, bob = await app.user("alice@example.com"), await app.user("bob@example.com")
    await app.backend.metering.record_usage("u-a", alice.id, 300_000, source="pi-chat")
    assert (await app.get("/api/credits/history", bob))[1] == {"entries": []}  # history itself never grants
    await app.get("/api/credits/balance", bob)
    entries = (await app.get("/api/credits/history", bob))[1]["entries"]
    assert [e["kind"] for e in entries] == ["grant"]


# --------------------------------------------------------------------------- checkout (Lemon Squeezy)


async def test_lemonsqueezy_checkout_sends_the_signed_attribution(aiohttp_client: ClientFactory,
                                                                 clock: ManualClock,
                                                                 provider: tuple[FakeProvider, str]) -> None:
    fake, base = provider
    app = await memory_app(aiohttp_client, clock, **LS_ENV, BORING_CREDITS_LS_API_BASE_URL=base,
                           BORING_CREDITS_LS_REDIRECT_URL="http://127.0.0.1/credits?checkout=return")
    user = await app.user()
    assert await app.post("/api/credits/checkout", {"pack": "15"}, user) == \
        (200, {"url": "https://shop.example/checkout/c1"})
    (sent,) = fake.requests
    assert sent["headers"]["Authorization"] == "Bearer ls-key"
    assert sent["headers"]["Content-Type"] == "application/vnd.api+json"
    assert sent["headers"]["Accept"] == "application/vnd.api+json"
    data = sent["json"]["data"]
    assert data["type"] == "checkouts"
    attributes = data["attributes"]
    assert attributes["test_mode"] is True
    assert attributes["checkout_data"] == {
        "email": "buyer@example.com", "variant_quantities": [{"variant_id": 912341, "quantity": 1}],
        "custom": {"user_id": user.id, "uat": ls_uat(user.id)}}
    assert attributes["checkout_options"] == {"discount": False}
    assert attributes["product_options"] == {"enabled_variants": [912341],
                                             "redirect_url": "http://127.0.0.1/credits?checkout=return"}
    assert data["relationships"] == {"store": {"data": {"type": "stores", "id": "12345"}},
                                     "variant": {"data": {"type": "variants", "id": "912341"}}}


async def test_missing_or_null_pack_buys_the_default(aiohttp_client: ClientFactory, clock: ManualClock,
                                                     provider: tuple[FakeProvider, str]) -> None:
    fake, base = provider
    app = await memory_app(aiohttp_client, clock, **LS_ENV, BORING_CREDITS_LS_API_BASE_URL=base)
    user = await app.user()
    assert (await app.post("/api/credits/checkout", {}, user))[0] == 200
    assert (await app.post("/api/credits/checkout", {"pack": None}, user))[0] == 200
    variants = [r["json"]["data"]["relationships"]["variant"]["data"]["id"] for r in fake.requests]
    assert variants == ["912340", "912340"]


@pytest.mark.parametrize("pack", ["999", 10, "", ["10"], "10.0"])
async def test_unknown_pack_is_400_and_the_provider_is_not_called(aiohttp_client: ClientFactory,
                                                                  clock: ManualClock,
                                                                  provider: tuple[FakeProvider, str],
                                                                  pack: object) -> None:
    fake, base = provider
    app = await memory_app(aiohttp_client, clock, **LS_ENV, BORING_CREDITS_LS_API_BASE_URL=base)
    user = await app.user()
    assert await app.post("/api/credits/checkout", {"pack": pack}, user) == \
        (400, {"error": {"code": "invalid_pack", "message": "unknown credit pack"}})
    assert fake.requests == []


@pytest.mark.parametrize(("status", "answer"), [(422, {"errors": [{"detail": "bad"}]}), (500, None),
                                                (201, {"data": {"attributes": {}}})])
async def test_provider_failure_is_502(aiohttp_client: ClientFactory, clock: ManualClock,
                                       provider: tuple[FakeProvider, str], status: int, answer: Any) -> None:
    fake, base = provider
    fake.status, fake.answer = status, answer
    app = await memory_app(aiohttp_client, clock, **LS_ENV, BORING_CREDITS_LS_API_BASE_URL=base)
    user = await app.user()
    assert await app.post("/api/credits/checkout", {"pack": "10"}, user) == \
        (502, {"error": {"code": "checkout_failed", "message": "could not create checkout"}})
    assert len(fake.requests) == 1


async def test_unreachable_provider_is_502(aiohttp_client: ClientFactory, clock: ManualClock,
                                           unused_tcp_port: int) -> None:
    app = await memory_app(aiohttp_client, clock, **LS_ENV,
                           BORING_CREDITS_LS_API_BASE_URL=f"http://127.0.0.1:{unused_tcp_port}")
    user = await app.user()
    assert (await app.post("/api/credits/checkout", {"pack": "10"}, user))[1]["error"]["code"] == "checkout_failed"


# --------------------------------------------------------------------------- checkout (Stripe)


async def test_stripe_checkout_form(aiohttp_client: ClientFactory, clock: ManualClock,
                                    provider: tuple[FakeProvider, str]) -> None:
    fake, base = provider
    app = await memory_app(aiohttp_client, clock, **STRIPE_ENV, BORING_CREDITS_STRIPE_API_BASE_URL=base)
    user = await app.user()
    assert await app.post("/api/credits/checkout", {"pack": "25"}, user) == \
        (200, {"url": "https://checkout.stripe.example/c/cs_1"})
    assert (await app.post("/api/credits/checkout", {"pack": "custom"}, user))[0] == 200
    fixed, custom = fake.requests
    assert fixed["headers"]["Authorization"] == "Bearer sk_test_1"
    assert fixed["form"] == {
        "mode": "payment", "line_items[0][price]": "price_twentyfive", "line_items[0][quantity]": "1",
        "line_items[0][adjustable_quantity][enabled]": "false", "adaptive_pricing[enabled]": "false",
        "client_reference_id": user.id, "metadata[user_id]": user.id, "metadata[pack_id]": "25",
        "payment_intent_data[metadata][user_id]": user.id, "payment_intent_data[metadata][pack_id]": "25",
        "metadata[uat]": stripe_uat(user.id, "25"), "customer_email": "buyer@example.com",
        "success_url": "http://127.0.0.1/credits?checkout=return",
        "cancel_url": "http://127.0.0.1/credits?checkout=cancelled",
    }
    assert custom["form"]["line_items[0][price]"] == "price_custom"
    assert custom["form"]["metadata[uat]"] == stripe_uat(user.id, "custom")


async def test_stripe_provider_error_is_502(aiohttp_client: ClientFactory, clock: ManualClock,
                                            provider: tuple[FakeProvider, str]) -> None:
    fake, base = provider
    fake.status = 402
    app = await memory_app(aiohttp_client, clock, **STRIPE_ENV, BORING_CREDITS_STRIPE_API_BASE_URL=base)
    user = await app.user()
    assert (await app.post("/api/credits/checkout", {"pack": "10"}, user))[0] == 502


# --------------------------------------------------------------------------- start-up validation


def test_bad_credits_configuration_fails_at_start_with_every_problem() -> None:
    env = {**BASE_ENV, "BORING_CREDITS_MARGIN": "0.9", "BORING_CREDITS_SIGNUP_GRANT_EXPIRES_DAYS": "30",
           "BORING_CREDITS_LS_WEBHOOK_SECRET": "s", "BORING_CREDITS_STRIPE_WEBHOOK_SECRET": "t",
           "BORING_CREDITS_TYPO": "1"}
    with pytest.raises(ConfigError) as info:
        create_app(load_config(env=env), MemoryBackend())
    text = "\n".join(info.value.problems)
    assert "BORING_CREDITS_TYPO" in text and "BORING_CREDITS_MARGIN" in text
    env.pop("BORING_CREDITS_TYPO")
    env.pop("BORING_CREDITS_MARGIN")
    with pytest.raises(ConfigError) as info:
        create_app(load_config(env=env), MemoryBackend())
    text = "\n".join(info.value.problems)
    assert "not both" in text and "must not expire" in text and "BORING_CREDITS_LS_TEST_MODE" in text


# --------------------------------------------------------------------------- with the real session


async def test_real_sign_up_session_reaches_the_credits_routes(aiohttp_client: ClientFactory, backend: Backend,
                                                               clock: ManualClock) -> None:
    app = create_app(load_config(env=BASE_ENV), backend, clock=clock)
    client = await aiohttp_client(app)
    origin = {"Origin": "http://127.0.0.1"}
    response = await client.post("/auth/sign-up/email", headers=origin, json={
        "email": "real@example.com", "password": "correct horse battery staple 42", "name": "Real"})
    assert response.status == 200, await response.text()
    user_id = (await response.json())["user"]["id"]
    balance = await client.get("/api/credits/balance")
    assert balance.status == 200
    body = await balance.json()
    assert (body["userId"], body["grantedMicros"], body["checkoutEnabled"]) == (user_id, 2_000_000, True)
    checkout = await client.post("/api/credits/checkout", headers=origin, json={"pack": "10"})
    assert checkout.status == 200
    cid = (await checkout.json())["url"].rsplit("=", 1)[1]
    paid = await client.post(f"/api/credits/dev/checkouts/{cid}/complete", headers=origin, json={})
    assert paid.status == 200 and (await paid.json())["status"] == "paid"
    assert (await (await client.get("/api/credits/balance")).json())["remainingMicros"] == 12_000_000
    # The same cookie-carrying write from a foreign origin is refused before it reaches the ledger.
    foreign = await client.post("/api/credits/checkout", headers={"Origin": "https://evil.example"}, json={})
    assert foreign.status == 403


async def test_background_sweeper_expires_stale_holds(aiohttp_client: ClientFactory, clock: ManualClock) -> None:
    app = await memory_app(aiohttp_client, clock, BORING_CREDITS_SWEEP_INTERVAL_SECONDS="0.05")
    user = await app.user()
    metering = app.backend.metering
    await metering.grant_once(user.id, "initial", 1_000_000)
    reservation = await metering.reserve(user.id, "run-1", 400_000, 60)
    await metering.mark_reservation_fallback_charge(user.id, reservation)
    clock.advance(seconds=61)
    for _ in range(100):
        await asyncio.sleep(0.02)
        if (await metering.get_balance(user.id)).used_micros:
            break
    balance = await metering.get_balance(user.id)
    assert (balance.used_micros, balance.active_reserved_micros) == (400_000, 0)
