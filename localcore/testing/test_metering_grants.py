"""Ledger contract, scenario groups A (grants and balance), F (billed-sum helpers), H (ledger view)."""

from __future__ import annotations

import json
import math
import re
from dataclasses import asdict
from datetime import timedelta

import pytest

from localcore.clock import ManualClock
from localcore.contract.ledger import MeteringRangeError, MeteringValidationError
from localcore.store import Backend
from localcore.testing.test_metering_support import U, V, bal, raw

# --------------------------------------------------------------------------- A. grants and balance


async def test_a01_grant_once_is_idempotent_per_reason(backend: Backend) -> None:
    m = backend.metering
    assert await m.grant_once(U, "initial", 15_000_000) is True
    assert await m.grant_once(U, "initial", 15_000_000) is False
    assert await m.grant_once(U, "topup:1", 5_000_000) is True
    assert await bal(backend) == (20_000_000, 0, 20_000_000, 0, 20_000_000)


async def test_a02_replayed_grant_with_other_amount_is_a_silent_noop(backend: Backend) -> None:
    m = backend.metering
    assert await m.grant_once(U, "initial", 15_000_000)
    assert await m.grant_once(U, "initial", 99) is False
    assert (await bal(backend))[0] == 15_000_000


@pytest.mark.parametrize("amount", [0, -1, 1.5, True, 2**53, math.nan, "5"])
async def test_a03_grant_amount_must_be_a_positive_safe_integer(backend: Backend, amount: object) -> None:
    with pytest.raises(MeteringValidationError, match="positive integer"):
        await backend.metering.grant_once(U, "initial", amount)  # type: ignore[arg-type]
    assert await raw(backend).list_grants(U) == []
    assert await bal(backend) == (0, 0, 0, 0, 0)


async def test_a04_expired_grant_does_not_count(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "old", 9_000_000, expires_at=clock() - timedelta(seconds=1))
    await m.grant_once(U, "forever", 1_000_000)
    assert (await bal(backend))[0] == 1_000_000


async def test_a05_grant_expiring_exactly_now_does_not_count(backend: Backend, clock: ManualClock) -> None:
    await backend.metering.grant_once(U, "edge", 1_000_000, expires_at=clock())
    assert (await bal(backend))[0] == 0
    assert (await bal(backend, now=clock() - timedelta(microseconds=1)))[0] == 1_000_000


async def test_a06_usage_against_an_expired_grant_becomes_debt(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    t0 = clock()
    await m.grant_once(U, "trial", 1_000_000, expires_at=t0 + timedelta(seconds=10))
    await m.record_usage("use-1", U, 400_000)
    assert await bal(backend, now=t0 + timedelta(seconds=11)) == (0, 400_000, -400_000, 0, -400_000)
    clock.advance(seconds=11)
    assert await bal(backend) == (0, 400_000, -400_000, 0, -400_000)


async def test_a07_sums_beyond_the_safe_range_fail_closed(backend: Backend) -> None:
    m = backend.metering
    assert await m.grant_once(U, "big-1", 6_000_000_000_000_000)
    assert await m.grant_once(U, "big-2", 6_000_000_000_000_000)
    with pytest.raises(MeteringRangeError, match="safe integer range"):
        await m.get_balance(U)


async def test_a07b_used_beyond_the_safe_range_fails_closed(backend: Backend) -> None:
    m = backend.metering
    await m.record_usage("big-1", U, 6_000_000_000_000_000)
    await m.record_usage("big-2", U, 6_000_000_000_000_000)
    with pytest.raises(MeteringRangeError, match="safe integer range"):
        await m.get_balance(U)


async def test_a07c_expiring_grants_beyond_the_safe_range_fail_closed(backend: Backend,
                                                                      clock: ManualClock) -> None:
    m = backend.metering
    later = clock() + timedelta(days=1)
    await m.grant_once(U, "big-1", 6_000_000_000_000_000, expires_at=later)
    await m.grant_once(U, "big-2", 6_000_000_000_000_000, expires_at=later)
    with pytest.raises(MeteringRangeError, match="safe integer range"):
        await m.get_balance(U)
    assert (await bal(backend, now=later))[0] == 0  # both expired: back in range


async def test_a08_balances_are_per_user(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    await m.record_usage("use-u", U, 300_000)
    await m.grant_once(V, "initial", 2_000_000)
    assert (await bal(backend, U))[2] == 700_000
    assert (await bal(backend, V))[2] == 2_000_000


async def test_a09_unknown_user_has_a_zero_balance(backend: Backend) -> None:
    assert await bal(backend, "nobody") == (0, 0, 0, 0, 0)


# --------------------------------------------------------------------------- F. billed-sum helpers


async def test_f66_billed_sums_by_run_and_by_reservation(backend: Backend) -> None:
    m = backend.metering
    await m.record_usage("use-1", U, 1_000_000, run_id="R", metadata={"reservationId": "res-A"})
    await m.record_usage("use-2", U, 0, run_id="R", metadata={"reservationId": "res-A"})
    assert await m.billed_micros_for_run(U, "R") == 1_000_000
    assert await m.billed_micros_for_reservation(U, "res-B") == 0
    assert await m.billed_micros_for_reservation(U, "res-A") == 1_000_000
    assert await m.billed_micros_for_run(V, "R") == 0
    assert await m.billed_micros_for_reservation(V, "res-A") == 0


# --------------------------------------------------------------------------- H. ledger view

_ID = re.compile(r"^[gu]_[0-9a-f]{8}$")


async def test_h99_ledger_view_kinds_amounts_descriptions_and_opaque_ids(backend: Backend,
                                                                          clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "signup_grant", 2_000_000)
    clock.advance(seconds=1)
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    clock.advance(seconds=1)
    await m.record_usage("pi-usage:sess-9:message:msg-7", U, 300_000, source="pi-chat", session_id="sess-9",
                         message_id="msg-7")
    clock.advance(seconds=1)
    await m.record_usage("usage-fallback:res-42", U, 50_000, source="pi-chat-fallback")
    clock.advance(seconds=1)
    await m.record_usage("refund:ord-1:1000000", U, 1_000_000, source="lemonsqueezy-refund",
                         metadata={"orderId": "ord-1"})
    clock.advance(seconds=1)
    await m.record_usage("zero-row", U, 0, source="pi-chat")
    await m.grant_once(V, "signup_grant", 2_000_000)

    entries = await m.list_ledger(U, 20)
    assert [(e.kind, e.amount_micros, e.description) for e in entries] == [
        ("refund", -1_000_000, "Refund"),
        ("fallback", -50_000, "Usage reconciliation"),
        ("usage", -300_000, "Agent usage"),
        ("purchase", 10_000_000, "Credit purchase"),
        ("grant", 2_000_000, "Signup grant"),
    ]
    assert all(_ID.match(e.id) for e in entries)
    assert len({e.id for e in entries}) == 5
    dumped = json.dumps([asdict(e) for e in entries], default=str)
    for secret in ("ord-1", "sess-9", "msg-7", "res-42", "pi-chat", "lemonsqueezy", "signup_grant",
                   "purchase:", "zero-row", "refund:"):
        assert secret not in dumped


async def test_h100_limit_is_clamped_to_1_through_50(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "g-0", 1)
    assert len(await m.list_ledger(U, 0)) == 1
    for i in range(1, 60):
        clock.advance(seconds=1)
        await m.grant_once(U, f"g-{i}", 1)
    assert len(await m.list_ledger(U, 0)) == 1
    assert len(await m.list_ledger(U, -5)) == 1
    assert len(await m.list_ledger(U, 9999)) == 50
    assert len(await m.list_ledger(U, 7.9)) == 7  # type: ignore[arg-type]
    assert len(await m.list_ledger(U, math.inf)) == 1  # type: ignore[arg-type]


async def test_h101_zero_rows_are_filtered_before_the_limit(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.record_usage("old", U, 700_000)
    for i in range(3):
        clock.advance(seconds=1)
        await m.record_usage(f"zero-{i}", U, 0)
    entries = await m.list_ledger(U, 2)
    assert [e.amount_micros for e in entries] == [-700_000]


async def test_h102_kind_mapping_for_expired_fallback_and_plain_grants(backend: Backend,
                                                                       clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "promo", 5)
    clock.advance(seconds=1)
    await m.record_usage("exp-1", U, 3, source="pi-chat-expired")
    entries = await m.list_ledger(U, 10)
    assert [(e.kind, e.description) for e in entries] == [
        ("fallback", "Usage reconciliation"), ("grant", "Credit grant"),
    ]


async def test_h103_opaque_id_vectors_hash_utf16_code_units(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    for usage_id in ("led-u1", "a", "€"):
        clock.advance(seconds=1)
        await m.record_usage(usage_id, U, 1)
    ids = [e.id for e in await m.list_ledger(U, 10)]
    assert ids == ["u_a93e2c4b", "u_e40c292c", "u_d2869c53"]
    assert "u_298f832b" not in ids  # the UTF-8 hash of '€'


async def test_h104_newest_first_across_grants_and_debits_expired_grants_listed(
        backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "expiring", 10, expires_at=clock() + timedelta(seconds=1))
    clock.advance(seconds=1)
    await m.record_usage("use-1", U, 1)
    clock.advance(seconds=1)
    await m.grant_once(U, "later", 20)
    clock.advance(seconds=1)
    await m.record_usage("use-2", U, 2)
    entries = await m.list_ledger(U, 10)
    assert [e.amount_micros for e in entries] == [-2, 20, -1, 10]
    times = [e.created_at for e in entries]
    assert times == sorted(times, reverse=True)
    assert (await bal(backend))[0] == 20  # the expired grant is listed but no longer counts
