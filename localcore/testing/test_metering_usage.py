"""Ledger contract, scenario groups C (recordUsage) and E (expiry sweep, charge_on_expire).

Concurrent cases live in test_metering_concurrency.
"""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest

from localcore.clock import ManualClock
from localcore.contract.ledger import InsufficientCreditError, MeteringConflictError, MeteringValidationError
from localcore.store import Backend
from localcore.testing.test_metering_support import STALE_SECONDS, TTL, U, V, bal, raw, reservation_status

FULL: dict[str, Any] = {
    "workspace_id": "ws-1", "session_id": "sess-1", "run_id": "run-1", "message_id": "msg-1",
    "source": "pi-chat", "provider": "anthropic", "model": "claude-sonnet-4", "input_tokens": 1200,
    "output_tokens": 340, "cache_read_tokens": 50, "cache_write_tokens": 7, "provider_cost_micros": 669_000,
    "stop_reason": "end_turn", "metadata": {"reservationId": "res-A", "currency": "credits"},
}

# --------------------------------------------------------------------------- C. recordUsage


async def test_c29_full_row_and_identical_replay(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 10_000_000)
    assert await m.record_usage("use-1", U, 870_000, **FULL) is True
    assert await m.record_usage("use-1", U, 870_000, **FULL) is False
    assert await bal(backend) == (10_000_000, 870_000, 9_130_000, 0, 9_130_000)
    row = await raw(backend).get_usage("use-1")
    assert row is not None
    assert (row.user_id, row.billed_cost_micros, row.model, row.input_tokens, row.metadata) == (
        U, 870_000, "claude-sonnet-4", 1200, {"reservationId": "res-A", "currency": "credits"})
    assert row.reservation_id == "res-A"


async def test_c30_same_id_other_amount_is_a_collision(backend: Backend) -> None:
    m = backend.metering
    await m.record_usage("use-1", U, 870_000, **FULL)
    with pytest.raises(MeteringConflictError, match="usage ledger id collision"):
        await m.record_usage("use-1", U, 999_999, **FULL)
    assert (await bal(backend))[1] == 870_000


@pytest.mark.parametrize(("field", "value"), [
    ("model", "claude-opus-4"), ("input_tokens", 1201), ("output_tokens", 1), ("cache_read_tokens", 0),
    ("cache_write_tokens", 8), ("provider", "openai"), ("provider_cost_micros", 1), ("stop_reason", "max_tokens"),
    ("message_id", "msg-2"), ("message_id", None), ("source", "other"), ("run_id", "run-2"), ("run_id", None),
])
async def test_c31_any_immutable_field_differing_is_a_collision(backend: Backend, field: str,
                                                                value: object) -> None:
    m = backend.metering
    await m.record_usage("use-1", U, 870_000, **FULL)
    with pytest.raises(MeteringConflictError, match="usage ledger id collision"):
        await m.record_usage("use-1", U, 870_000, **{**FULL, field: value})
    assert (await bal(backend))[1] == 870_000


async def test_c32_reservation_tag_is_compared(backend: Backend) -> None:
    m = backend.metering
    await m.record_usage("use-1", U, 10, metadata={"reservationId": "res-A"})
    with pytest.raises(MeteringConflictError, match="usage ledger id collision"):
        await m.record_usage("use-1", U, 10, metadata={"reservationId": "res-B"})
    with pytest.raises(MeteringConflictError, match="usage ledger id collision"):
        await m.record_usage("use-1", U, 10)
    assert await m.record_usage("use-1", U, 10, metadata={"reservationId": "res-A", "other": 1}) is False


async def test_c33_usage_ids_are_global_across_users(backend: Backend) -> None:
    m = backend.metering
    await m.record_usage("use-1", U, 10)
    with pytest.raises(MeteringConflictError, match="usage ledger id collision"):
        await m.record_usage("use-1", V, 10)
    assert (await bal(backend, V))[1] == 0


@pytest.mark.parametrize("change", [
    {"workspace_id": "ws-2"}, {"workspace_id": None}, {"session_id": "sess-2"},
    {"metadata": {"reservationId": "res-A", "currency": "EUR", "extra": True}},
])
async def test_c34_workspace_session_and_other_metadata_are_not_compared(backend: Backend,
                                                                         change: dict[str, Any]) -> None:
    m = backend.metering
    await m.record_usage("use-1", U, 870_000, **FULL)
    assert await m.record_usage("use-1", U, 870_000, **{**FULL, **change}) is False
    assert (await bal(backend))[1] == 870_000


async def test_c35_billed_must_be_a_non_negative_integer(backend: Backend) -> None:
    m = backend.metering
    for billed in (-1, 1.5, True, 2**53):
        with pytest.raises(MeteringValidationError, match="non-negative integer"):
            await m.record_usage("use-1", U, billed)  # type: ignore[arg-type]
    assert await raw(backend).get_usage("use-1") is None
    assert await m.record_usage("use-0", U, 0) is True
    assert (await bal(backend))[1] == 0


@pytest.mark.parametrize("field", ["input_tokens", "output_tokens", "cache_read_tokens", "cache_write_tokens",
                                   "provider_cost_micros"])
async def test_c36_negative_tokens_or_cost_are_rejected(backend: Backend, field: str) -> None:
    with pytest.raises(MeteringValidationError, match="non-negative integer"):
        kwargs: dict[str, Any] = {field: -1}
        await backend.metering.record_usage("use-1", U, 10, **kwargs)
    assert await raw(backend).get_usage("use-1") is None


async def test_c37_usage_is_never_refused_and_blocks_the_next_run(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 100)
    assert await m.record_usage("use-1", U, 500) is True
    assert (await bal(backend))[2] == -400
    with pytest.raises(InsufficientCreditError):
        await m.reserve(U, "R", 1, TTL)


# --------------------------------------------------------------------------- E. expiry sweep


async def _hold(backend: Backend, run: str = "R", amount: int = 1_000_000, *, grant: int = 5_000_000,
                mark: bool = False) -> str:
    m = backend.metering
    await m.grant_once(U, "initial", grant)
    rid = await m.reserve(U, run, amount, TTL)
    if mark:
        await m.mark_reservation_fallback_charge(U, rid)
    return rid


async def test_e49_sweep_expires_only_stale_holds(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 5_000_000)
    stale = await m.reserve(U, "a", 500_000, TTL)
    fresh = await m.reserve(U, "b", 100_000, 2 * TTL)  # (a reserve for the user would claim the stale one)
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert await reservation_status(backend, stale) == "expired"
    assert await reservation_status(backend, fresh) == "active"
    assert (await bal(backend))[1:4:2] == (0, 100_000)


async def test_e50_unmarked_stale_hold_keeps_only_its_real_debits(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend)
    await m.record_usage("use-1", U, 200_000, run_id="R", metadata={"reservationId": rid})
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1:4:2] == (200_000, 0)
    assert await m.expire_stale_reservations() == 0
    assert (await bal(backend))[1] == 200_000


async def test_e51_unmarked_stale_hold_with_zero_billed_rows_is_free(backend: Backend,
                                                                     clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend)
    await m.record_usage("use-1", U, 0, run_id="R", metadata={"reservationId": rid})
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1] == 0


async def test_e52_marked_stale_hold_is_charged_in_full(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1] == 1_000_000
    row = await raw(backend).get_usage(f"usage-fallback:{rid}")
    assert row is not None
    assert (row.user_id, row.billed_cost_micros, row.source, row.run_id) == (U, 1_000_000, "pi-chat-expired", "R")
    assert row.metadata == {"kind": "reservation_expired_fallback", "reservationId": rid}


@pytest.mark.parametrize(("billed", "used"), [(300_000, 1_000_000), (1_200_000, 1_200_000)])
async def test_e53_e54_marked_stale_hold_is_topped_up_to_the_hold(backend: Backend, clock: ManualClock,
                                                                  billed: int, used: int) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    await m.record_usage("use-1", U, billed, run_id="R", metadata={"reservationId": rid})
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1] == used
    top_up = await raw(backend).get_usage(f"usage-fallback:{rid}")
    assert (top_up.billed_cost_micros if top_up else 0) == used - billed


async def test_e55_top_up_is_scoped_per_reservation_not_per_run(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await _hold(backend, mark=True)
    await m.record_usage("use-old", U, 300_000, run_id="R", metadata={"reservationId": "res-other"})
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1] == 1_300_000


async def test_e56_service_fallback_already_covering_the_hold(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    await m.record_usage(f"usage-fallback:{rid}", U, 1_000_000, source="pi-chat-fallback", run_id="R",
                         metadata={"reservationId": rid})
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1] == 1_000_000


async def test_e57_conflicting_fallback_row_raises_and_rolls_back(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    await m.record_usage(f"usage-fallback:{rid}", U, 500_000, source="manual")
    clock.advance(seconds=STALE_SECONDS)
    with pytest.raises(MeteringConflictError, match="ledger debit conflict"):
        await m.expire_stale_reservations()
    assert await reservation_status(backend, rid) == "active"
    assert (await bal(backend))[1] == 500_000


async def test_e58_settled_hold_is_untouched_by_the_sweep(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    await m.record_usage("use-1", U, 200_000, metadata={"reservationId": rid})
    assert await m.finish_reservation("settled", reservation_id=rid)
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 0
    assert await reservation_status(backend, rid) == "settled"
    assert (await bal(backend))[1] == 200_000


async def test_e59_marked_then_released_is_free(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    assert await m.finish_reservation("released", reservation_id=rid)
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 0
    assert (await bal(backend))[1] == 0


async def test_e60_reserve_path_expiry_is_charge_aware(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    turn_a = await _hold(backend, "turn-a", mark=True)
    await m.record_usage("use-a", U, 300_000, run_id="turn-a", metadata={"reservationId": turn_a})
    clock.advance(seconds=STALE_SECONDS)
    turn_b = await m.reserve(U, "turn-b", 1_000_000, TTL)
    assert (await bal(backend))[1] == 1_000_000
    assert await reservation_status(backend, turn_a) == "expired"
    assert await reservation_status(backend, turn_b) == "active"


async def test_e61_sweep_counts_every_user(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    for user in ("u1", "u2", "u3"):
        await m.grant_once(user, "initial", 1_000)
        await m.reserve(user, f"run-{user}", 100, TTL)
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 3
    assert await m.expire_stale_reservations() == 0


async def test_e61b_sweep_takes_an_explicit_now(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000)
    await m.reserve(U, "R", 100, TTL)
    assert await m.expire_stale_reservations(now=clock()) == 0
    t_end = clock() + timedelta(seconds=TTL)
    assert await m.expire_stale_reservations(now=t_end) == 1  # expires_at <= now is stale


async def test_e64_mark_needs_the_owner_and_an_active_hold(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend)
    await m.mark_reservation_fallback_charge(V, rid)
    await m.mark_reservation_fallback_charge(U, "no-such-reservation")
    settled = await m.reserve(U, "S", 1_000, TTL)
    await m.finish_reservation("settled", reservation_id=settled)
    await m.mark_reservation_fallback_charge(U, settled)
    row = await raw(backend).get_reservation(settled)
    assert row is not None and row.charge_on_expire is False
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert (await bal(backend))[1] == 0


async def test_e65_marking_twice_tops_up_once(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rid = await _hold(backend, mark=True)
    await m.mark_reservation_fallback_charge(U, rid)
    row = await raw(backend).get_reservation(rid)
    assert row is not None and row.charge_on_expire is True
    clock.advance(seconds=STALE_SECONDS)
    assert await m.expire_stale_reservations() == 1
    assert await m.expire_stale_reservations() == 0
    assert (await bal(backend))[1] == 1_000_000
