"""The offline dev checkout end to end through HTTP, on every backend: checkout → page data → pay (a
Stripe-signed event through the real webhook handler) → balance and history → refund → balance back.
"""

from __future__ import annotations

from urllib.parse import parse_qs, urlsplit

import pytest

from backends.memory import MemoryBackend
from localcore.clock import ManualClock
from localcore.contract.ledger import MeteringInspector
from localcore.store import Backend
from tests.api.credits_fixtures import ClientFactory, Credits, start


@pytest.fixture
async def dev(aiohttp_client: ClientFactory, backend: Backend, clock: ManualClock) -> Credits:
    return await start(aiohttp_client, backend, clock)


def checkout_id(url: str) -> str:
    parts = urlsplit(url)
    assert f"{parts.scheme}://{parts.netloc}{parts.path}" == "http://127.0.0.1/credits/dev-checkout"
    return parse_qs(parts.query)["checkout"][0]


async def test_buy_and_refund_offline(dev: Credits) -> None:
    user = await dev.user()
    balance = (await dev.get("/api/credits/balance", user))[1]
    assert balance["checkoutEnabled"] is True
    assert [p["id"] for p in balance["packs"]] == ["10", "25", "50"]
    assert balance["remainingMicros"] == 2_000_000

    status, body = await dev.post("/api/credits/checkout", {"pack": "25"}, user)
    assert status == 200
    cid = checkout_id(body["url"])
    path = f"/api/credits/dev/checkouts/{cid}"
    assert await dev.get(path, user) == (200, {
        "id": cid, "pack": "25", "amountMicros": 25_000_000, "price": "€25", "priceMinor": 2500,
        "currency": "EUR", "status": "open"})

    dev.clock.advance(seconds=5)  # history ties are not ordered: let time pass between ledger rows
    status, paid = await dev.post(f"{path}/complete", {}, user)
    assert status == 200
    assert paid["status"] == "paid"
    assert paid["webhook"] == {"status": 200, "ok": True, "orderId": f"pi_dev_{cid}", "created": True}
    assert (await dev.get("/api/credits/balance", user))[1]["remainingMicros"] == 27_000_000
    entries = (await dev.get("/api/credits/history", user))[1]["entries"]
    newest = entries[0]
    assert (newest["kind"], newest["amountMicros"], newest["description"]) == \
        ("purchase", 25_000_000, "Credit purchase")
    inspector = dev.backend.metering
    assert isinstance(inspector, MeteringInspector)
    purchase = await inspector.get_purchase(f"stripe:test:pi_dev_{cid}")
    assert purchase is not None
    assert purchase.status == "granted" and purchase.variant_id == "25" and purchase.currency == "EUR"

    assert (await dev.post(f"{path}/complete", {}, user))[0] == 409  # paying twice is refused
    dev.clock.advance(seconds=5)
    status, refunded = await dev.post(f"{path}/refund", {}, user)
    assert status == 200
    assert refunded["status"] == "refunded"
    assert refunded["webhook"]["reason"] == "refund_revoked"
    assert (await dev.get("/api/credits/balance", user))[1]["remainingMicros"] == 2_000_000
    kinds = [e["kind"] for e in (await dev.get("/api/credits/history", user))[1]["entries"]]
    assert kinds == ["refund", "purchase", "grant"]
    assert (await dev.post(f"{path}/refund", {}, user))[0] == 409
    assert (await dev.get(path, user))[1]["status"] == "refunded"


async def test_default_pack_and_owner_only(dev: Credits) -> None:
    owner, other = await dev.user("owner@example.com"), await dev.user("other@example.com")
    cid = checkout_id((await dev.post("/api/credits/checkout", {}, owner))[1]["url"])
    assert (await dev.get(f"/api/credits/dev/checkouts/{cid}", owner))[1]["pack"] == "10"
    for path in ("", "/complete", "/refund"):
        call = dev.get if not path else dev.post
        status, body = await call(f"/api/credits/dev/checkouts/{cid}{path}", user=other)
        assert status == 404
        assert body == {"error": {"code": "not_found", "message": "checkout not found"}}
    assert (await dev.get("/api/credits/dev/checkouts/nope", owner))[0] == 404
    assert await dev.remaining(other) == 0
    assert (await dev.post("/api/credits/checkout", {"pack": "11"}, owner))[1]["error"]["code"] == "invalid_pack"


async def test_the_dev_webhook_secret_is_private_to_the_process(aiohttp_client: ClientFactory,
                                                                clock: ManualClock) -> None:
    from tests.api.credits_fixtures import stripe_session

    app = await start(aiohttp_client, MemoryBackend(clock), clock)
    user = await app.user()
    # A well-formed event signed with any guessable secret is refused by the dev endpoint.
    assert (await app.stripe(stripe_session(user), secret="whsec_test"))[0] == 401
    assert await app.remaining(user) == 0


async def test_checkouts_expire_after_a_week(aiohttp_client: ClientFactory, clock: ManualClock) -> None:
    app = await start(aiohttp_client, MemoryBackend(clock), clock)
    user = await app.user()
    cid = checkout_id((await app.post("/api/credits/checkout", {}, user))[1]["url"])
    clock.advance(days=7, seconds=1)
    assert (await app.post(f"/api/credits/dev/checkouts/{cid}/complete", {}, user))[0] == 404


@pytest.mark.parametrize("env", [
    {"MAIL_TRANSPORT_URL": "smtp://127.0.0.1:2525"},
    {"BORING_CREDITS_DEV_CHECKOUT": "off"},
])
async def test_no_dev_checkout_without_console_mail_or_when_off(aiohttp_client: ClientFactory, clock: ManualClock,
                                                                env: dict[str, str]) -> None:
    app = await start(aiohttp_client, MemoryBackend(clock), clock, **env)
    user = await app.user()
    body = (await app.get("/api/credits/balance", user))[1]
    assert body["checkoutEnabled"] is False and "packs" not in body
    assert (await app.client.post("/api/credits/checkout", json={}, headers={"x-test-user": user.id})).status == 404
