"""Ledger contract, scenario group G (purchases, refunds, tombstones). Concurrent cases: test_metering_concurrency."""

from __future__ import annotations

import math
from typing import Any

import pytest

from localcore.contract.ledger import InsufficientCreditError, MeteringConflictError, MeteringValidationError
from localcore.store import Backend
from localcore.testing.test_metering_support import TTL, U, V, bal, raw, refund_debits, remaining

IDENTITY: dict[str, Any] = {"store_id": "A", "test_mode": False, "variant_id": "912340", "currency": "EUR"}


async def test_g67_purchase_is_credited_once_and_conflicts_raise(backend: Backend) -> None:
    m = backend.metering
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is True
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is False
    with pytest.raises(MeteringConflictError, match="refusing conflicting re-grant"):
        await m.grant_purchase_once("ord-1", V, 10_000_000)
    with pytest.raises(MeteringConflictError, match="refusing conflicting re-grant"):
        await m.grant_purchase_once("ord-1", U, 25_000_000)
    assert (await bal(backend, U))[0] == 10_000_000
    assert (await bal(backend, V))[0] == 0
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None
    assert (purchase.user_id, purchase.amount_micros, purchase.status, purchase.source) == (
        U, 10_000_000, "granted", "lemonsqueezy")
    assert [g.reason for g in await raw(backend).list_grants(U)] == ["purchase:ord-1"]


@pytest.mark.parametrize("change", [{"store_id": "B"}, {"test_mode": True}, {"variant_id": "999"},
                                    {"currency": "USD"}, {"currency": "eur"}, {"store_id": None}])
async def test_g68_provider_identity_must_match_on_replay(backend: Backend, change: dict[str, Any]) -> None:
    m = backend.metering
    assert await m.grant_purchase_once("ord-1", U, 10_000_000, **IDENTITY) is True
    assert await m.grant_purchase_once("ord-1", U, 10_000_000, **IDENTITY) is False
    with pytest.raises(MeteringConflictError, match="refusing conflicting re-grant"):
        await m.grant_purchase_once("ord-1", U, 10_000_000, **{**IDENTITY, **change})
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None
    assert (purchase.store_id, purchase.test_mode, purchase.variant_id, purchase.currency) == ("A", False,
                                                                                                "912340", "EUR")


async def test_g69_purchase_validation(backend: Backend) -> None:
    m = backend.metering
    with pytest.raises(MeteringValidationError, match="orderId"):
        await m.grant_purchase_once("", U, 10)
    with pytest.raises(MeteringValidationError, match="positive integer"):
        await m.grant_purchase_once("ord-1", U, 0)
    with pytest.raises(MeteringValidationError, match="orderId"):
        await m.revoke_purchase("")
    assert await raw(backend).get_purchase("ord-1") is None


async def test_g70_existing_purchase_grant_rolls_the_purchase_back(backend: Backend) -> None:
    m = backend.metering
    assert await m.grant_once(U, "purchase:ord-x", 1)
    with pytest.raises(MeteringConflictError, match="claimed but a credit grant already existed"):
        await m.grant_purchase_once("ord-x", U, 10_000_000)
    assert await raw(backend).get_purchase("ord-x") is None
    assert (await bal(backend))[0] == 1


async def test_g71_full_revoke(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1") is True
    assert await remaining(backend) == 0
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and purchase.status == "refunded" and purchase.refunded_micros == 10_000_000
    assert await m.revoke_purchase("ord-1") is False
    assert await refund_debits(backend) == {"refund:ord-1:10000000": 10_000_000}


async def test_g72_unknown_order_without_tombstone_writes_nothing(backend: Backend) -> None:
    m = backend.metering
    assert await m.revoke_purchase("ord-1") is False
    assert await raw(backend).get_purchase("ord-1") is None
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is True
    assert await remaining(backend) == 10_000_000


async def test_g73_tombstone_blocks_the_later_grant(backend: Backend) -> None:
    m = backend.metering
    assert await m.revoke_purchase("ord-race", allow_tombstone=True, expected_store_id="S1",
                                   expected_test_mode=True, expected_currency="EUR") is False
    tomb = await raw(backend).get_purchase("ord-race")
    assert tomb is not None
    assert (tomb.status, tomb.user_id, tomb.amount_micros, tomb.store_id, tomb.test_mode, tomb.currency) == (
        "refunded", None, None, "S1", True, None)
    assert await m.grant_purchase_once("ord-race", U, 10_000_000) is False
    assert (await bal(backend))[0] == 0


async def test_g74_grant_replay_after_full_refund_is_quiet(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    await m.revoke_purchase("ord-1")
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is False
    assert await m.grant_purchase_once("ord-1", V, 99) is False
    assert await remaining(backend) == 0


async def test_g75_cumulative_partial_refunds(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1", refund_fraction=0.3) is True
    assert await remaining(backend) == 7_000_000
    assert await m.revoke_purchase("ord-1", refund_fraction=0.3) is False
    assert await m.revoke_purchase("ord-1", refund_fraction=0.8) is True
    assert await remaining(backend) == 2_000_000
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and (purchase.status, purchase.refunded_micros) == ("granted", 8_000_000)
    assert await m.revoke_purchase("ord-1", refund_fraction=1.2) is True
    assert await remaining(backend) == 0
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and purchase.status == "refunded"


async def test_g76_lower_cumulative_fraction_does_nothing(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    await m.revoke_purchase("ord-1", refund_fraction=0.8)
    assert await m.revoke_purchase("ord-1", refund_fraction=0.5) is False
    assert await remaining(backend) == 2_000_000


async def test_g77_fractions_past_100_percent_never_over_revoke(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    await m.revoke_purchase("ord-1", refund_fraction=0.6)
    assert await remaining(backend) == 4_000_000
    await m.revoke_purchase("ord-1", refund_fraction=0.7)
    assert await remaining(backend) == 3_000_000
    await m.revoke_purchase("ord-1", refund_fraction=1.5)
    assert await remaining(backend) == 0
    debits = await refund_debits(backend)
    assert debits == {"refund:ord-1:6000000": 6_000_000, "refund:ord-1:7000000": 1_000_000,
                      "refund:ord-1:10000000": 3_000_000}
    assert sum(debits.values()) == 10_000_000


async def test_g78_repeating_a_cumulative_fraction_is_a_noop(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1", refund_fraction=0.6) is True
    assert await m.revoke_purchase("ord-1", refund_fraction=0.6) is False
    assert await remaining(backend) == 4_000_000


async def test_g79_zero_fraction_on_a_granted_order(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1", refund_fraction=0) is False
    assert await refund_debits(backend) == {}
    assert await remaining(backend) == 10_000_000


@pytest.mark.parametrize("fraction", [-0.1, math.nan, math.inf, -math.inf, True, "0.5"])
async def test_g80_fraction_must_be_a_non_negative_number(backend: Backend, fraction: object) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    with pytest.raises(MeteringValidationError, match="non-negative number"):
        await m.revoke_purchase("ord-1", refund_fraction=fraction)  # type: ignore[arg-type]
    assert await remaining(backend) == 10_000_000


async def test_g81_partial_refund_before_grant_is_netted_at_grant(backend: Backend) -> None:
    m = backend.metering
    assert await m.revoke_purchase("ord-1", refund_fraction=0.5, allow_tombstone=True) is False
    pending = await raw(backend).get_purchase("ord-1")
    assert pending is not None and (pending.status, pending.pending_refund_ppm) == ("refund_pending", 500_000)
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is True
    assert await remaining(backend) == 5_000_000
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None
    assert (purchase.status, purchase.pending_refund_ppm, purchase.refunded_micros, purchase.user_id) == (
        "granted", None, 5_000_000, U)
    debit = await raw(backend).get_usage("refund:ord-1:5000000")
    assert debit is not None and debit.source == "lemonsqueezy-refund"
    assert debit.metadata == {"kind": "purchase_refund", "orderId": "ord-1", "refundedToMicros": 5_000_000,
                              "appliedAtGrant": True}
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is False
    assert await remaining(backend) == 5_000_000


@pytest.mark.parametrize(("first", "second", "left"), [(0.3, 0.8, 2_000_000), (0.8, 0.3, 2_000_000)])
async def test_g82_g83_pending_share_keeps_the_largest_fraction(backend: Backend, first: float,
                                                                second: float, left: int) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=first, allow_tombstone=True)
    await m.revoke_purchase("ord-1", refund_fraction=second, allow_tombstone=True)
    pending = await raw(backend).get_purchase("ord-1")
    assert pending is not None and (pending.status, pending.pending_refund_ppm) == ("refund_pending", 800_000)
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is True
    assert await remaining(backend) == left


async def test_g82b_pending_row_is_updated_even_without_allow_tombstone(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=0.3, allow_tombstone=True)
    await m.revoke_purchase("ord-1", refund_fraction=0.8)
    pending = await raw(backend).get_purchase("ord-1")
    assert pending is not None and pending.pending_refund_ppm == 800_000


async def test_g84_pending_then_full_refund_blocks_the_grant(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=0.5, allow_tombstone=True)
    await m.revoke_purchase("ord-1", allow_tombstone=True)
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and (purchase.status, purchase.pending_refund_ppm) == ("refunded", None)
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is False
    assert (await bal(backend))[0] == 0


async def test_g85_pending_then_grant_then_full_refund(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=0.5, allow_tombstone=True)
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1") is True
    assert await remaining(backend) == 0
    assert await refund_debits(backend) == {"refund:ord-1:5000000": 5_000_000,
                                            "refund:ord-1:10000000": 5_000_000}


async def test_g86_conflicting_refund_row_rolls_back_the_grant(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=0.5, allow_tombstone=True)
    await m.record_usage("refund:ord-1:5000000", U, 1, source="manual-repair")
    with pytest.raises(MeteringConflictError, match="ledger debit conflict"):
        await m.grant_purchase_once("ord-1", U, 10_000_000)
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and purchase.status == "refund_pending" and purchase.user_id is None
    assert await raw(backend).list_grants(U) == []
    assert await bal(backend) == (0, 1, -1, 0, -1)


async def test_g87_conflicting_refund_row_rolls_back_the_revoke(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    await m.record_usage("refund:ord-1:10000000", V, 1, source="manual-repair")
    with pytest.raises(MeteringConflictError, match="ledger debit conflict"):
        await m.revoke_purchase("ord-1")
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and (purchase.status, purchase.refunded_micros) == ("granted", None)
    assert await remaining(backend) == 10_000_000


async def test_g87b_identical_refund_row_is_accepted_and_the_row_still_updated(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    await m.record_usage("refund:ord-1:10000000", U, 10_000_000, source="lemonsqueezy-refund")
    assert await m.revoke_purchase("ord-1") is False  # the debit already existed
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and (purchase.status, purchase.refunded_micros) == ("refunded", 10_000_000)
    assert await remaining(backend) == 0


@pytest.mark.parametrize("expected", [{"expected_store_id": "S2"}, {"expected_test_mode": True},
                                      {"expected_currency": "USD"}])
async def test_g88_refund_identity_mismatch(backend: Backend, expected: dict[str, Any]) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000, store_id="S1", test_mode=False, currency="EUR")
    with pytest.raises(MeteringConflictError, match="refund identity mismatch"):
        await m.revoke_purchase("ord-1", **expected)
    assert await remaining(backend) == 10_000_000
    assert await m.revoke_purchase("ord-1", expected_store_id="S1", expected_test_mode=False,
                                   expected_currency="eur") is True
    assert await remaining(backend) == 0


async def test_g88b_identity_is_also_checked_on_tombstones(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", allow_tombstone=True, expected_store_id="S1")
    with pytest.raises(MeteringConflictError, match="refund identity mismatch"):
        await m.revoke_purchase("ord-1", expected_store_id="S2")


async def test_g89_null_identity_on_either_side_skips_the_check(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1", expected_store_id="S1", expected_test_mode=True,
                                   expected_currency="EUR") is True


async def test_g90_credited_order_is_revocable_without_tombstones(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    assert await m.revoke_purchase("ord-1", allow_tombstone=False) is True


async def test_g91_refund_rounding_is_half_up(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 5)
    assert await m.revoke_purchase("ord-1", refund_fraction=0.5) is True
    assert await refund_debits(backend) == {"refund:ord-1:3": 3}
    assert await remaining(backend) == 2


async def test_g91b_pending_share_rounding_is_half_up(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=0.5, allow_tombstone=True)
    await m.grant_purchase_once("ord-1", U, 5)
    assert await remaining(backend) == 2


async def test_g91c_no_binary_float_drift(backend: Backend) -> None:
    m = backend.metering
    # 100 * 0.145 is 14.499999999999998 in binary floats (JS Math.round gives 14); the fraction is read as
    # the decimal it prints as, so the exact share 14.5 rounds half-up to 15.
    await m.grant_purchase_once("ord-1", U, 100)
    await m.revoke_purchase("ord-1", refund_fraction=0.145)
    assert await refund_debits(backend) == {"refund:ord-1:15": 15}


async def test_g92_zero_fraction_tombstone_then_full_credit(backend: Backend) -> None:
    m = backend.metering
    await m.revoke_purchase("ord-1", refund_fraction=0, allow_tombstone=True)
    pending = await raw(backend).get_purchase("ord-1")
    assert pending is not None and (pending.status, pending.pending_refund_ppm) == ("refund_pending", 0)
    assert await m.grant_purchase_once("ord-1", U, 10_000_000) is True
    assert await remaining(backend) == 10_000_000
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and (purchase.status, purchase.refunded_micros) == ("granted", None)


async def test_g98_refund_against_an_in_flight_run_becomes_debt(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    await m.reserve(U, "R", 1_000_000, TTL)
    await m.revoke_purchase("ord-1")
    assert (await bal(backend))[2::2] == (0, -1_000_000)
    await m.record_usage("use-1", U, 500_000, run_id="R")
    balance = await m.get_balance(U)
    assert balance.remaining_micros == -500_000
    # the policy layer's shaping (CreditsService.getBalance with signupGrantMicros=0), applied here:
    shaped = (max(0, balance.remaining_micros), max(0, balance.available_micros),
              max(0, -balance.remaining_micros))
    assert shaped == (0, 0, 500_000)
    with pytest.raises(InsufficientCreditError):
        await m.reserve(U, "R2", 1, TTL)
