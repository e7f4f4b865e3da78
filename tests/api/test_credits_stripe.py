"""Stripe webhook over HTTP: the ``Stripe-Signature`` scheme and upstream's decision order (scenarios K129, K136).

Signatures (``t=…,v1=…``) and ``uat`` tokens are computed here with plain ``hmac``; the app's clock is a
``ManualClock``, so the 300 s replay window is tested by moving time, not by sleeping.
"""

from __future__ import annotations

import hashlib
import hmac
import json

import pytest

from backends.memory import MemoryBackend
from localcore.clock import ManualClock
from localcore.store import Backend
from tests.api.credits_fixtures import (
    PREVIOUS_ATTRIBUTION_SECRET,
    STRIPE_ENV,
    ClientFactory,
    Credits,
    start,
    stripe_charge,
    stripe_session,
    stripe_signature,
    stripe_uat,
)


@pytest.fixture
async def st(aiohttp_client: ClientFactory, clock: ManualClock) -> Credits:
    return await start(aiohttp_client, MemoryBackend(clock), clock, **STRIPE_ENV)


@pytest.fixture
async def st_all(aiohttp_client: ClientFactory, backend: Backend, clock: ManualClock) -> Credits:
    return await start(aiohttp_client, backend, clock, **STRIPE_ENV)


# --------------------------------------------------------------------------- K129 signatures


def test_the_section_9_vectors_are_what_hmac_gives() -> None:
    assert stripe_signature(b'{"a":1}', 1700000000, "whsec_test") == \
        "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    assert stripe_uat("u1", "10", "attr") == "5e3b1cf3c003de190e57a50aca08cadb86237440ff137a7a27e667b4aef50f26"


async def test_the_vector_header_verifies_at_its_own_time(st: Credits) -> None:
    st.clock.now = st.clock.now.fromtimestamp(1700000000, tz=st.clock.now.tzinfo)
    header = "t=1700000000,v1=38877139021993b830af32feea6e18a8da83eb2f6e49ee50bd9e4cf4ca4d3789"
    status, body = await st.webhook("stripe", b'{"a":1}', {"Stripe-Signature": header})
    assert (status, body) == (400, {"ok": False, "reason": "unparseable_event"})  # past the signature


async def test_replay_window_is_300_seconds_either_way(st: Credits) -> None:
    now = int(st.clock().timestamp())
    raw = json.dumps({"type": "customer.created", "data": {"object": {}}}).encode()
    for skew, status in ((-300, 200), (300, 200), (-301, 401), (301, 401), (-10000, 401)):
        got, body = await st.stripe(raw, at=now + skew)
        assert got == status, (skew, body)
    st.clock.advance(seconds=301)
    assert (await st.stripe(raw, at=now))[0] == 401


async def test_tolerance_zero_disables_the_window(aiohttp_client: ClientFactory, clock: ManualClock) -> None:
    app = await start(aiohttp_client, MemoryBackend(clock), clock,
                      **{**STRIPE_ENV, "BORING_CREDITS_STRIPE_WEBHOOK_TOLERANCE_SECONDS": "0"})
    raw = json.dumps({"type": "customer.created", "data": {"object": {}}}).encode()
    assert (await app.stripe(raw, at=int(clock().timestamp()) - 10000))[0] == 200


@pytest.mark.parametrize("header", [
    "t=1,v1=deadbeef", "", "v1=abc", "t=abc,v1=abc", "t={t}", "t={t},v1=", "t={t},v0={good}",
    "t={t},v1={upper}", "t={other},v1={good}",
])
async def test_bad_headers_are_401(st: Credits, header: str) -> None:
    raw = json.dumps(stripe_session(await st.user())).encode()
    t = int(st.clock().timestamp())
    good = stripe_signature(raw, t).split("v1=")[1]
    value = header.format(t=t, good=good, upper=good.upper(), other=t - 1)
    status, body = await st.webhook("stripe", raw, {"Stripe-Signature": value} if value else {})
    assert (status, body) == (401, {"ok": False, "reason": "invalid_signature"})


async def test_any_v1_may_match_and_other_keys_are_ignored(st: Credits) -> None:
    user = await st.user()
    raw = json.dumps(stripe_session(user)).encode()
    t = int(st.clock().timestamp())
    good = hmac.new(b"whsec_test", f"{t}.".encode() + raw, hashlib.sha256).hexdigest()
    header = f" t = {t} ,v0=ignored,v1={'0' * 64}, v1 = {good} "
    assert (await st.webhook("stripe", raw, {"Stripe-Signature": header}))[1]["created"] is True


async def test_tampered_body_is_401(st: Credits) -> None:
    user = await st.user()
    raw = json.dumps(stripe_session(user)).encode()
    header = stripe_signature(raw, int(st.clock().timestamp()))
    tampered = raw.replace(b'"10"', b'"25"')
    assert (await st.webhook("stripe", tampered, {"Stripe-Signature": header}))[0] == 401
    assert await st.remaining(user) == 0


# --------------------------------------------------------------------------- grants and refunds


async def test_paid_session_grants_once_and_refund_revokes(st_all: Credits) -> None:
    user = await st_all.user()
    assert await st_all.stripe(stripe_session(user)) == (200, {"ok": True, "orderId": "pi_1", "created": True})
    assert await st_all.stripe(stripe_session(user)) == (200, {"ok": True, "orderId": "pi_1", "created": False})
    assert await st_all.remaining(user) == 10_000_000
    partial = stripe_charge(amount=1000, amount_refunded=500)
    assert await st_all.stripe(partial) == (200, {"ok": True, "reason": "refund_revoked", "orderId": "pi_1"})
    assert await st_all.remaining(user) == 5_000_000
    assert (await st_all.stripe(partial))[1]["reason"] == "refund_noop"
    assert (await st_all.stripe(stripe_charge()))[1]["reason"] == "refund_revoked"
    assert await st_all.remaining(user) == 0


async def test_refund_before_the_session_blocks_the_grant(st_all: Credits) -> None:
    user = await st_all.user()
    assert (await st_all.stripe(stripe_charge()))[1]["reason"] == "refund_noop"
    assert (await st_all.stripe(stripe_session(user)))[1]["created"] is False
    assert await st_all.remaining(user) == 0


async def test_dispute_always_revokes_fully(st: Credits) -> None:
    user = await st.user()
    await st.stripe(stripe_session(user))
    dispute = stripe_charge(event="charge.dispute.created", amount=1000, amount_refunded=100)
    assert (await st.stripe(dispute))[1]["reason"] == "refund_revoked"
    assert await st.remaining(user) == 0


async def test_custom_pack_credits_the_net_paid(st: Credits) -> None:
    user = await st.user()
    session = stripe_session(user, pack="custom", subtotal=1500, total=1500)
    assert (await st.stripe(session))[1]["created"] is True
    assert await st.remaining(user) == 15_000_000


# --------------------------------------------------------------------------- K136 decision table


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"event": "checkout.session.expired"}, (200, "ignored_event")),
    ({"payment_status": "unpaid"}, (200, "payment_status_unpaid")),
    ({"payment_status": None}, (500, "payment_status_missing")),
    ({"pack": "custom", "subtotal": 400, "total": 400}, (500, "no_credit_amount")),  # below minMinor (500)
    ({"totals": None}, (500, "invalid_money_fields")),
    ({"discount": None}, (500, "invalid_money_fields")),
    ({"subtotal": 1000, "discount": 600, "total": 400}, (500, "underpaid_order")),
    ({"subtotal": 999, "total": 999}, (500, "underpaid_order")),
    ({"currency": "usd"}, (500, "unverified_credit_order")),  # known pack, wrong currency
    ({"livemode": True}, (500, "unverified_credit_order")),
    ({"livemode": None}, (500, "unverified_credit_order")),
    ({"pack": "999"}, (500, "unrecognized_credit_pack")),
    ({"pack": "999", "currency": "usd"}, (200, "not_a_credit_order")),
    ({"uat": None}, (500, "untrusted_attribution")),
    ({"uat": "forged"}, (500, "untrusted_attribution")),
    ({"payment_intent": None}, (500, "missing_payment_intent")),
])
async def test_decision_table(st: Credits, overrides: dict[str, object], expected: tuple[int, str]) -> None:
    user = await st.user()
    status, body = await st.stripe(stripe_session(user, **overrides))  # type: ignore[arg-type]
    assert (status, body.get("reason")) == expected
    assert await st.remaining(user) == 0


async def test_uat_signed_for_another_pack_is_untrusted(st: Credits) -> None:
    user = await st.user()
    session = stripe_session(user, pack="25", subtotal=2500, total=2500, uat=stripe_uat(user.id, "10"))
    assert (await st.stripe(session))[1]["reason"] == "untrusted_attribution"


async def test_uat_signed_with_the_previous_secret_is_accepted(st: Credits) -> None:
    user = await st.user()
    session = stripe_session(user, uat=stripe_uat(user.id, "10", PREVIOUS_ATTRIBUTION_SECRET))
    assert (await st.stripe(session))[1]["created"] is True


async def test_user_falls_back_to_client_reference_id_and_deleted_users_are_acknowledged(st: Credits) -> None:
    user = await st.user()
    session = stripe_session(user)
    del session["data"]["object"]["metadata"]["user_id"]
    session["data"]["object"]["client_reference_id"] = user.id
    await st.backend.users.delete_user_completely(user.id)
    assert await st.stripe(session) == (200, {"ok": True, "reason": "user_not_found", "orderId": "pi_1"})


async def test_refund_decisions(st: Credits) -> None:
    user = await st.user()
    await st.stripe(stripe_session(user))
    assert await st.stripe(stripe_charge(payment_intent=None)) == (500, {"ok": False, "reason": "refund_unmappable"})
    assert (await st.stripe(stripe_charge(livemode=True)))[1]["reason"] == "refund_not_our_store"
    assert (await st.stripe(stripe_charge(currency="usd")))[1]["reason"] == "refund_not_our_store"
    assert await st.remaining(user) == 10_000_000
    # Expanded payment_intent objects are understood.
    expanded = stripe_charge()
    expanded["data"]["object"]["payment_intent"] = {"id": "pi_1", "object": "payment_intent"}
    assert (await st.stripe(expanded))[1]["reason"] == "refund_revoked"
    assert await st.remaining(user) == 0


async def test_invalid_json_and_unparseable_events_are_400(st: Credits) -> None:
    assert await st.stripe(b"{nope") == (400, {"ok": False, "reason": "invalid_json"})
    assert await st.stripe(b'{"type":"x"}') == (400, {"ok": False, "reason": "unparseable_event"})
    assert await st.stripe(b'{"type":"x","data":{"object":{"v":NaN}}}') == \
        (400, {"ok": False, "reason": "invalid_json"})
