"""Lemon Squeezy webhook over HTTP: the ``X-Signature`` scheme and upstream's decision order (scenarios K128,
K130 to K135, named as in docs/contract.md, "Ledger scenario names").

Signatures and attribution tokens are computed here with plain ``hmac``. The ledger-changing scenarios
(out-of-order refunds, duplicate delivery) run on every backend; the pure decision-table rows run on
memory, since they never reach the store or only read a user.
"""

from __future__ import annotations

import json

import pytest

from backends.memory import MemoryBackend
from localcore.clock import ManualClock
from localcore.store import Backend
from tests.api.credits_fixtures import (
    LS_ENV,
    PREVIOUS_ATTRIBUTION_SECRET,
    ClientFactory,
    Credits,
    ls_order,
    ls_signature,
    ls_uat,
    start,
)


@pytest.fixture
async def ls(aiohttp_client: ClientFactory, clock: ManualClock) -> Credits:
    return await start(aiohttp_client, MemoryBackend(clock), clock, **LS_ENV)


@pytest.fixture
async def ls_all(aiohttp_client: ClientFactory, backend: Backend, clock: ManualClock) -> Credits:
    return await start(aiohttp_client, backend, clock, **LS_ENV)


# --------------------------------------------------------------------------- K128 signatures


def test_the_section_9_vector_is_what_hmac_gives() -> None:
    assert ls_signature(b'{"a":1}', "whsec_test") == \
        "51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5"


async def test_valid_signature_over_raw_bytes_is_accepted_before_json_parsing(ls: Credits) -> None:
    raw = b'{"a":1}'
    status, body = await ls.webhook("lemonsqueezy", raw, {
        "X-Signature": "51426af50a41dd7ff2cd3f116594734766d4018d15d6fb07169aee5d2959adf5"})
    # The signature passed; the body is valid JSON but not an order.
    assert (status, body) == (400, {"ok": False, "reason": "unparseable_order"})


@pytest.mark.parametrize("case", ["tampered", "wrong_secret", "missing", "uppercase", "truncated", "json_first"])
async def test_bad_signatures_are_401_and_change_nothing(ls: Credits, case: str) -> None:
    user = await ls.user()
    raw = json.dumps(ls_order(user)).encode()
    signature = ls_signature(raw)
    headers = {"X-Signature": signature}
    if case == "tampered":
        raw = raw.replace(b"1000", b"9000", 1)
    elif case == "wrong_secret":
        headers = {"X-Signature": ls_signature(raw, "whsec_other")}
    elif case == "missing":
        headers = {}
    elif case == "uppercase":
        headers = {"X-Signature": signature.upper()}
    elif case == "truncated":
        headers = {"X-Signature": signature[:-2]}
    elif case == "json_first":
        # Re-serialising the parsed JSON gives a different byte string: verification must use the raw body.
        raw = json.dumps(json.loads(raw), indent=2).encode()
    status, body = await ls.webhook("lemonsqueezy", raw, headers)
    assert (status, body) == (401, {"ok": False, "reason": "invalid_signature"})
    assert await ls.remaining(user) == 0


# --------------------------------------------------------------------------- grants, idempotency, ordering


async def test_paid_order_grants_the_fixed_pack_value_once(ls_all: Credits) -> None:
    user = await ls_all.user()
    assert await ls_all.ls(ls_order(user)) == (200, {"ok": True, "orderId": "ord-1", "created": True})
    assert await ls_all.ls(ls_order(user)) == (200, {"ok": True, "orderId": "ord-1", "created": False})
    assert await ls_all.remaining(user) == 10_000_000
    status, history = await ls_all.get("/api/credits/history", user)
    assert status == 200
    assert [(e["kind"], e["amountMicros"]) for e in history["entries"]] == [("purchase", 10_000_000)]


async def test_same_order_for_another_user_is_a_retryable_500(ls_all: Credits) -> None:
    buyer, other = await ls_all.user("a@example.com"), await ls_all.user("b@example.com")
    assert (await ls_all.ls(ls_order(buyer)))[1]["created"] is True
    status, _ = await ls_all.ls(ls_order(other))  # a valid uat for the other user: conflicting re-grant
    assert status == 500
    assert await ls_all.remaining(other) == 0
    assert await ls_all.remaining(buyer) == 10_000_000


async def test_full_refund_before_the_order_blocks_the_later_grant(ls_all: Credits) -> None:
    user = await ls_all.user()
    refund = ls_order(user, event="order_refunded", variant=None, refunded_amount=1000)
    assert await ls_all.ls(refund) == (200, {"ok": True, "reason": "refund_noop", "orderId": "ord-1"})
    assert await ls_all.ls(ls_order(user)) == (200, {"ok": True, "orderId": "ord-1", "created": False})
    assert await ls_all.remaining(user) == 0


async def test_partial_refund_before_the_order_is_netted_at_grant(ls_all: Credits) -> None:
    user = await ls_all.user()
    refund = ls_order(user, event="order_refunded", refunded_amount=500, total=1000)
    assert (await ls_all.ls(refund))[1]["reason"] == "refund_noop"
    assert (await ls_all.ls(ls_order(user)))[1]["created"] is True
    assert await ls_all.remaining(user) == 5_000_000


async def test_refund_after_the_order_revokes_the_refunded_share(ls_all: Credits) -> None:
    user = await ls_all.user()
    await ls_all.ls(ls_order(user))
    partial = ls_order(user, event="order_refunded", refunded_amount=300, total=1000)
    assert await ls_all.ls(partial) == (200, {"ok": True, "reason": "refund_revoked", "orderId": "ord-1"})
    assert await ls_all.remaining(user) == 7_000_000
    assert (await ls_all.ls(partial))[1]["reason"] == "refund_noop"  # duplicate delivery
    full = ls_order(user, event="order_refunded", refunded_amount=None)  # no refunded_amount: full
    assert (await ls_all.ls(full))[1]["reason"] == "refund_revoked"
    assert await ls_all.remaining(user) == 0


# --------------------------------------------------------------------------- K133 decision table


async def test_non_json_body_with_a_valid_signature_is_400(ls: Credits) -> None:
    assert await ls.ls(b"not json{") == (400, {"ok": False, "reason": "invalid_json"})


async def test_unparseable_orders_are_400(ls: Credits) -> None:
    user = await ls.user()
    payload = ls_order(user)
    payload["data"]["id"] = ""
    assert await ls.ls(payload) == (400, {"ok": False, "reason": "unparseable_order"})
    assert await ls.ls({"meta": {"event_name": "order_created"}, "data": {"id": "1"}}) == \
        (400, {"ok": False, "reason": "unparseable_order"})


@pytest.mark.parametrize(("overrides", "expected"), [
    ({"event": "subscription_created"}, (200, "ignored_event")),
    ({"status": "pending"}, (200, "order_status_pending")),
    ({"status": None}, (500, "order_status_missing")),
    ({"test_mode": False}, (200, "not_a_credit_order")),  # a live order on a test webhook
    ({"variant": 999999}, (500, "unrecognized_credit_variant")),  # credit-only store
    ({"store_id": None}, (500, "unverified_credit_order")),  # expected store set, store missing
    ({"test_mode": None}, (500, "unverified_credit_order")),
    ({"currency": None}, (500, "unverified_credit_order")),
    ({"store_id": 777}, (200, "not_a_credit_order")),  # a present foreign store
    ({"currency": "USD"}, (200, "not_a_credit_order")),
    ({"uat": "0" * 64}, (500, "untrusted_attribution")),
    ({"uat": None}, (500, "untrusted_attribution")),
    ({"quantity": 10**9, "subtotal": 10**12, "total": 10**12}, (500, "no_credit_amount")),  # past 2**53 - 1
])
async def test_decision_table(ls: Credits, overrides: dict[str, object], expected: tuple[int, str]) -> None:
    user = await ls.user()
    status, body = await ls.ls(ls_order(user, **overrides))  # type: ignore[arg-type]
    assert (status, body.get("reason")) == expected
    assert body["ok"] is (status == 200)
    assert await ls.remaining(user) == 0


async def test_unknown_variant_on_a_mixed_store_is_acknowledged(aiohttp_client: ClientFactory,
                                                               clock: ManualClock) -> None:
    app = await start(aiohttp_client, MemoryBackend(clock), clock,
                      **{**LS_ENV, "BORING_CREDITS_LS_CREDIT_ONLY_STORE": "0"})
    user = await app.user()
    assert (await app.ls(ls_order(user, variant=999999)))[1]["reason"] == "not_a_credit_order"


async def test_missing_user_id_is_untrusted_then_deleted_user_is_acknowledged(ls: Credits) -> None:
    assert (await ls.ls(ls_order(None)))[1]["reason"] == "untrusted_attribution"
    user = await ls.user()
    await ls.backend.users.delete_user_completely(user.id)
    assert await ls.ls(ls_order(user)) == (200, {"ok": True, "reason": "user_not_found", "orderId": "ord-1"})


async def test_a_uat_signed_with_the_previous_secret_still_verifies(ls: Credits) -> None:
    user = await ls.user()
    rotated = ls_order(user, uat=ls_uat(user.id, PREVIOUS_ATTRIBUTION_SECRET))
    assert (await ls.ls(rotated))[1]["created"] is True
    assert await ls.remaining(user) == 10_000_000


async def test_a_uat_signed_with_a_retired_secret_is_refused(ls: Credits) -> None:
    user = await ls.user()
    assert (await ls.ls(ls_order(user, uat=ls_uat(user.id, "attr-retired"))))[1]["reason"] == \
        "untrusted_attribution"


async def test_empty_attribution_list_still_enforces_the_uat(aiohttp_client: ClientFactory,
                                                             clock: ManualClock) -> None:
    env = {**LS_ENV, "BORING_CREDITS_ATTRIBUTION_SECRET": " ", "BORING_CREDITS_ATTRIBUTION_SECRET_PREVIOUS": ""}
    app = await start(aiohttp_client, MemoryBackend(clock), clock, **env)
    user = await app.user()
    assert (await app.ls(ls_order(user, uat=None)))[1]["reason"] == "untrusted_attribution"
    # Falls back to the webhook secret, never to "no verification".
    fallback = ls_order(user, uat=ls_uat(user.id, "whsec_test"))
    assert (await app.ls(fallback))[1]["created"] is True


# --------------------------------------------------------------------------- K134 money checks


@pytest.mark.parametrize(("overrides", "reason"), [
    ({"subtotal": 1000, "discount": 400, "total": 600}, "underpaid_order"),
    ({"subtotal": 999, "total": 999}, "underpaid_order"),
    ({"drop": ("discount_total",)}, "invalid_money_fields"),
    ({"subtotal": 1000, "total": 1080, "tax": 180, "drop": ("discount_total",)}, "invalid_money_fields"),
    ({"drop": ("subtotal",)}, "invalid_money_fields"),
    ({"drop": ("total",)}, "invalid_money_fields"),
    ({"subtotal": 1000, "discount": 0, "total": 600}, "invalid_money_fields"),
    ({"subtotal": 1000, "discount": 1100, "total": 1000}, "invalid_money_fields"),
    ({"subtotal": "1000"}, "invalid_money_fields"),
])
async def test_money_checks_fail_closed(ls: Credits, overrides: dict[str, object], reason: str) -> None:
    user = await ls.user()
    status, body = await ls.ls(ls_order(user, **overrides))  # type: ignore[arg-type]
    assert (status, body["reason"]) == (500, reason)
    assert await ls.remaining(user) == 0


@pytest.mark.parametrize(("overrides", "credited"), [
    ({"variant": 912341, "subtotal": 1499.985, "total": 1499.985}, 15_000_000),
    ({"variant": 912343, "subtotal": 1000, "discount": 100, "tax": 180, "total": 1080}, 9_000_000),
    ({"variant": 912342, "quantity": 3, "subtotal": 1500, "total": 1500}, 15_000_000),
])
async def test_money_checks_that_pass(ls: Credits, overrides: dict[str, object], credited: int) -> None:
    user = await ls.user()
    status, body = await ls.ls(ls_order(user, **overrides))  # type: ignore[arg-type]
    assert (status, body.get("created")) == (200, True)
    assert await ls.remaining(user) == credited


# --------------------------------------------------------------------------- K135 refunds


async def test_live_refund_on_a_test_webhook_is_not_ours(ls: Credits) -> None:
    user = await ls.user()
    await ls.ls(ls_order(user))
    refund = ls_order(user, event="order_refunded", test_mode=False)
    assert await ls.ls(refund) == (200, {"ok": True, "reason": "refund_not_our_store", "orderId": "ord-1"})
    assert await ls.remaining(user) == 10_000_000


async def test_refund_that_omits_store_and_mode_still_revokes(ls: Credits) -> None:
    user = await ls.user()
    await ls.ls(ls_order(user))
    refund = ls_order(user, event="order_refunded", drop=("store_id", "test_mode", "currency"))
    assert (await ls.ls(refund))[1]["reason"] == "refund_revoked"
    assert await ls.remaining(user) == 0


async def test_refund_for_a_foreign_order_id_writes_nothing_but_a_tombstone(ls: Credits) -> None:
    user = await ls.user()
    refund = ls_order(user, event="order_refunded", order_id="ord-9", variant=None)
    assert (await ls.ls(refund))[1]["reason"] == "refund_noop"
    # The tombstone only blocks that order; another order still credits.
    assert (await ls.ls(ls_order(user, order_id="ord-10")))[1]["created"] is True
    assert (await ls.ls(ls_order(user, order_id="ord-9")))[1]["created"] is False
    assert await ls.remaining(user) == 10_000_000
