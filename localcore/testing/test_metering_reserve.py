"""Ledger contract, scenario groups B (reserve) and D (finishReservation); concurrency: test_metering_concurrency."""

from __future__ import annotations

import math
from datetime import timedelta

import pytest

from localcore.clock import ManualClock
from localcore.contract.ledger import (
    InsufficientCreditError,
    MeteringConflictError,
    MeteringValidationError,
)
from localcore.store import Backend
from localcore.testing.test_metering_support import STALE_SECONDS, TTL, U, V, bal, raw, reservation_status

# --------------------------------------------------------------------------- B. reserve


async def test_b10_reserve_holds_part_of_the_balance(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    rid = await m.reserve(U, "t1", 750_000, TTL)
    assert isinstance(rid, str) and rid
    assert await bal(backend) == (1_000_000, 0, 1_000_000, 750_000, 250_000)


async def test_b11_insufficient_credit_is_402_and_writes_nothing(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    await m.reserve(U, "t1", 750_000, TTL)
    with pytest.raises(InsufficientCreditError) as info:
        await m.reserve(U, "t2", 750_000, TTL)
    assert (info.value.available_micros, info.value.required_micros) == (250_000, 750_000)
    assert info.value.status_code == 402
    assert info.value.code == "PAYMENT_REQUIRED"
    assert "insufficient credit" in str(info.value).lower()
    assert [r.run_id for r in await raw(backend).list_reservations(U)] == ["t1"]


async def test_b12_min_available_floor_is_measured_before_the_hold(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    await m.reserve(U, "t1", 750_000, TTL)
    await m.reserve(U, "t2", 750_000, TTL, min_available_micros=100_000)
    assert await bal(backend) == (1_000_000, 0, 1_000_000, 1_500_000, -500_000)


async def test_b13_small_balance_reports_available_and_required(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 100)
    with pytest.raises(InsufficientCreditError) as info:
        await m.reserve(U, "t1", 1_000, TTL)
    assert (info.value.available_micros, info.value.required_micros) == (100, 1_000)


async def test_b14_exactly_available_is_admitted(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 500)
    await m.reserve(U, "t1", 500, TTL)
    with pytest.raises(InsufficientCreditError) as info:
        await m.reserve(U, "t2", 1, TTL)
    assert (info.value.available_micros, info.value.required_micros) == (0, 1)


async def test_b15_zero_floor_admits_into_debt_once(backend: Backend) -> None:
    m = backend.metering
    await m.reserve(U, "t1", 10, TTL, min_available_micros=0)
    assert (await bal(backend))[4] == -10
    with pytest.raises(InsufficientCreditError) as info:
        await m.reserve(U, "t2", 10, TTL, min_available_micros=0)
    assert (info.value.available_micros, info.value.required_micros) == (-10, 0)


async def test_b16_reserve_is_idempotent_per_active_run(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    first = await m.reserve(U, "R", 750_000, TTL)
    assert await m.reserve(U, "R", 750_000, TTL) == first
    assert len(await raw(backend).list_reservations(U)) == 1
    assert (await bal(backend))[3] == 750_000


async def test_b17_replay_ignores_amount_and_ttl(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    first = await m.reserve(U, "R", 750_000, TTL)
    before = await raw(backend).get_reservation(first)
    assert await m.reserve(U, "R", 100_000, 5) == first
    after = await raw(backend).get_reservation(first)
    assert before is not None and after is not None
    assert (after.amount_micros, after.expires_at) == (750_000, before.expires_at)


async def test_b18_released_run_can_be_reserved_again(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    first = await m.reserve(U, "R", 100_000, TTL)
    assert await m.finish_reservation("released", reservation_id=first)
    second = await m.reserve(U, "R", 100_000, TTL)
    assert second != first
    assert await reservation_status(backend, first) == "released"
    assert await reservation_status(backend, second) == "active"


async def test_b19_another_users_active_run_is_a_conflict(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    await m.grant_once(V, "initial", 1_000_000)
    mine = await m.reserve(U, "shared", 100_000, TTL)
    with pytest.raises(MeteringConflictError):
        await m.reserve(V, "shared", 100_000, TTL)
    assert (await bal(backend, V))[3] == 0
    assert await raw(backend).list_reservations(V) == []
    row = await raw(backend).get_reservation(mine)
    assert row is not None and (row.status, row.user_id, row.amount_micros) == ("active", U, 100_000)


async def test_b20_refused_reserve_rolls_back_its_expiry_claims(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    old = await m.reserve(U, "X", 750_000, TTL)
    await m.record_usage("use-1", U, 900_000)
    clock.advance(seconds=STALE_SECONDS)
    with pytest.raises(InsufficientCreditError):
        await m.reserve(U, "X", 750_000, TTL)
    assert await reservation_status(backend, old) == "active"  # the claim was rolled back
    assert (await bal(backend))[3] == 0  # ...but a past-TTL hold is not counted


async def test_b21_stale_same_run_gets_a_new_hold(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 5_000_000)
    old = await m.reserve(U, "Y", 750_000, TTL)
    clock.advance(seconds=STALE_SECONDS)
    new = await m.reserve(U, "Y", 750_000, TTL)
    assert new != old
    assert await reservation_status(backend, old) == "expired"
    assert (await bal(backend))[3] == 750_000


@pytest.mark.parametrize(("kwargs", "message"), [
    ({"amount_micros": 1.5}, "positive integer"),
    ({"amount_micros": 0}, "positive integer"),
    ({"amount_micros": True}, "positive integer"),
    ({"ttl_seconds": 0}, "ttlSeconds must be positive"),
    ({"ttl_seconds": -1}, "ttlSeconds must be positive"),
    ({"ttl_seconds": math.nan}, "ttlSeconds must be positive"),
    ({"ttl_seconds": math.inf}, "ttlSeconds must be positive"),
    ({"min_available_micros": math.nan}, "minAvailableMicros"),
    ({"min_available_micros": -5}, "minAvailableMicros"),
])
async def test_b22_reserve_validation_writes_nothing(backend: Backend, kwargs: dict[str, object],
                                                     message: str) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    args: dict[str, object] = {"amount_micros": 100, "ttl_seconds": TTL, **kwargs}
    with pytest.raises(MeteringValidationError, match=message):
        await m.reserve(U, "R", **args)  # type: ignore[arg-type]
    assert await raw(backend).list_reservations(U) == []


async def test_b23_fractional_ttl(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000)
    await m.reserve(U, "R", 100, 0.5)
    assert (await bal(backend))[3] == 100
    assert (await bal(backend, now=clock() + timedelta(seconds=0.6)))[3] == 0


# --------------------------------------------------------------------------- D. finishReservation


async def test_d40_settle_by_id_once(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    rid = await m.reserve(U, "R", 500_000, TTL)
    assert await m.finish_reservation("settled", reservation_id=rid) is True
    assert await m.finish_reservation("settled", reservation_id=rid) is False
    assert await bal(backend) == (1_000_000, 0, 1_000_000, 0, 1_000_000)


async def test_d41_release_by_run_and_user(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    await m.reserve(U, "R", 500_000, TTL)
    assert await m.finish_reservation("released", run_id="R", user_id=U) is True
    assert await bal(backend) == (1_000_000, 0, 1_000_000, 0, 1_000_000)


async def test_d42_released_can_never_be_settled(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    rid = await m.reserve(U, "R", 500_000, TTL)
    assert await m.finish_reservation("released", reservation_id=rid)
    assert await m.finish_reservation("settled", reservation_id=rid) is False
    assert await reservation_status(backend, rid) == "released"


async def test_d43_expired_row_can_be_late_settled_not_released(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    first = await m.reserve(U, "R", 100_000, TTL)
    other = await m.reserve(U, "S", 100_000, TTL)
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 2
    assert await m.finish_reservation("settled", run_id="R", user_id=U) is True
    assert await reservation_status(backend, first) == "settled"
    assert await m.finish_reservation("released", reservation_id=other) is False
    assert await m.finish_reservation("released", run_id="S", user_id=U) is False
    assert await reservation_status(backend, other) == "expired"


async def test_d44_finish_needs_an_id_and_a_user_for_runs(backend: Backend) -> None:
    m = backend.metering
    with pytest.raises(MeteringValidationError, match="requires reservationId or runId"):
        await m.finish_reservation("settled")
    with pytest.raises(MeteringValidationError, match="requires userId"):
        await m.finish_reservation("settled", run_id="R")
    with pytest.raises(MeteringValidationError):
        await m.finish_reservation("cancelled", reservation_id="x")  # type: ignore[arg-type]


async def test_d45_wrong_user_or_unknown_id_is_false(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    rid = await m.reserve(U, "R", 100_000, TTL)
    assert await m.finish_reservation("settled", run_id="R", user_id=V) is False
    assert await m.finish_reservation("settled", reservation_id=rid, user_id=V) is False
    assert await m.finish_reservation("settled", reservation_id="no-such-reservation") is False
    assert await m.finish_reservation("settled", reservation_id="00000000-0000-4000-8000-000000000000") is False
    assert await reservation_status(backend, rid) == "active"


async def test_d46_two_rows_for_one_run_are_ambiguous(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    expired = await m.reserve(U, "R", 100_000, TTL)
    clock.advance(seconds=STALE_SECONDS)
    await m.expire_stale_reservations()
    live = await m.reserve(U, "R", 100_000, TTL)
    with pytest.raises(MeteringConflictError, match="ambiguous"):
        await m.finish_reservation("settled", run_id="R", user_id=U)
    assert await m.finish_reservation("settled", reservation_id=expired) is True
    assert await reservation_status(backend, live) == "active"
    assert await m.finish_reservation("released", run_id="R", user_id=U) is True
    assert await reservation_status(backend, live) == "released"


async def test_d47_settling_never_charges_the_hold(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 5_000_000)
    rid = await m.reserve(U, "R", 1_000_000, TTL)
    await m.record_usage("use-1", U, 300_000, run_id="R", metadata={"reservationId": rid})
    assert await m.finish_reservation("settled", reservation_id=rid)
    assert await bal(backend) == (5_000_000, 300_000, 4_700_000, 0, 4_700_000)


async def test_d48_fallback_usage_replay_is_charged_once(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 5_000_000)
    rid = await m.reserve(U, "R", 1_000_000, TTL)
    fallback = {"metadata": {"reservationId": rid, "kind": "no_billable_usage_fallback"},
                "source": "pi-chat-fallback", "run_id": "R"}
    assert await m.record_usage(f"usage-fallback:{rid}", U, 1_000_000, **fallback) is True  # type: ignore[arg-type]
    assert await m.record_usage(f"usage-fallback:{rid}", U, 1_000_000, **fallback) is False  # type: ignore[arg-type]
    assert await m.finish_reservation("settled", reservation_id=rid)
    assert (await bal(backend))[1:4:2] == (1_000_000, 0)
