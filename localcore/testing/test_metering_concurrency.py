"""Ledger contract under concurrency: the concurrent cases of every scenario group, with asyncio.gather.

Postgres runs these on a real connection pool (several transactions in flight, advisory locks decide);
SQLite serialises writers with ``BEGIN IMMEDIATE`` (test_metering_multiprocess adds real OS processes);
the memory store yields to the event loop between each read and the write that depends on it, so these
tests prove its locks, not the absence of awaits.
"""

from __future__ import annotations

import asyncio
import random
from collections import Counter
from collections.abc import Awaitable, Sequence
from typing import Any, TypeVar

import pytest

from localcore.clock import ManualClock
from localcore.contract.ledger import InsufficientCreditError, MeteringConflictError
from localcore.store import Backend
from localcore.testing.test_metering_support import (
    STALE_SECONDS,
    TTL,
    U,
    V,
    bal,
    raw,
    refund_debits,
    remaining,
)

T = TypeVar("T")


async def gather(coros: Sequence[Awaitable[T]]) -> list[T | BaseException]:
    return list(await asyncio.gather(*coros, return_exceptions=True))


def outcomes(results: Sequence[object]) -> Counter[str]:
    """Count results by kind; any unexpected exception fails the test with its traceback."""
    counts: Counter[str] = Counter()
    for result in results:
        if isinstance(result, InsufficientCreditError):
            counts["insufficient"] += 1
        elif isinstance(result, MeteringConflictError):
            counts["conflict"] += 1
        elif isinstance(result, BaseException):
            raise result
        else:
            counts[repr(result) if isinstance(result, bool) else "ok"] += 1
    return counts


# --------------------------------------------------------------------------- B. reserve


async def test_b24_twenty_reserves_ten_fit(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 100)
    results = await gather([m.reserve(U, f"run-{i}", 10, TTL) for i in range(20)])
    assert outcomes(results) == {"ok": 10, "insufficient": 10}
    assert (await bal(backend))[3:] == (100, 0)


async def test_b24b_fifty_reserves_ten_fit(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000)
    results = await gather([m.reserve(U, f"run-{i}", 100, TTL) for i in range(50)])
    assert outcomes(results) == {"ok": 10, "insufficient": 40}
    ids = [r for r in results if isinstance(r, str)]
    assert len(set(ids)) == 10
    assert (await bal(backend))[3:] == (1_000, 0)
    active = [r for r in await raw(backend).list_reservations(U) if r.status == "active"]
    assert len(active) == 10


async def test_b25_four_large_reserves_two_fit(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    results = await gather([m.reserve(U, f"run-{i}", 400_000, TTL) for i in range(4)])
    assert outcomes(results) == {"ok": 2, "insufficient": 2}
    assert (await bal(backend))[3] == 800_000


async def test_b26_same_run_twenty_times_one_hold(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 1_000_000)
    results = await gather([m.reserve(U, "R", 100_000, TTL) for _ in range(20)])
    outcomes(results)
    assert len(set(results)) == 1
    assert len(await raw(backend).list_reservations(U)) == 1
    assert (await bal(backend))[3] == 100_000


async def test_b27_two_users_interleaved_do_not_interfere(backend: Backend) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 100)
    await m.grant_once(V, "initial", 100)
    calls = [m.reserve(user, f"{user}-run-{i}", 10, TTL) for i in range(15) for user in (U, V)]
    results = await gather(calls)
    per_user = Counter(user for user, r in zip([U, V] * 15, results, strict=True) if isinstance(r, str))
    outcomes(results)
    assert per_user == {U: 10, V: 10}
    assert (await bal(backend, U))[3:] == (100, 0)
    assert (await bal(backend, V))[3:] == (100, 0)


async def test_b28_two_users_race_for_one_run(backend: Backend) -> None:
    m = backend.metering
    for _ in range(5):
        run = f"shared-{_}"
        await m.grant_once(U, f"initial-{run}", 100)
        await m.grant_once(V, f"initial-{run}", 100)
        results = await gather([m.reserve(U, run, 10, TTL), m.reserve(V, run, 10, TTL)])
        assert outcomes(results) == {"ok": 1, "conflict": 1}
    assert (await bal(backend, U))[3] + (await bal(backend, V))[3] == 50


async def test_grant_reason_raced_is_granted_once(backend: Backend) -> None:
    m = backend.metering
    results = await gather([m.grant_once(U, "signup_grant", 2_000_000) for _ in range(20)])
    assert outcomes(results) == {"True": 1, "False": 19}
    assert (await bal(backend))[0] == 2_000_000
    assert len(await raw(backend).list_grants(U)) == 1


# --------------------------------------------------------------------------- C. recordUsage


async def test_c38_identical_usage_raced_is_counted_once(backend: Backend) -> None:
    m = backend.metering
    results = await gather([m.record_usage("use-1", U, 870_000, run_id="R", model="m") for _ in range(10)])
    assert outcomes(results) == {"True": 1, "False": 9}
    assert (await bal(backend))[1] == 870_000


async def test_c38b_usage_id_raced_by_two_users(backend: Backend) -> None:
    m = backend.metering
    for i in range(5):
        results = await gather([m.record_usage(f"use-{i}", U, 10), m.record_usage(f"use-{i}", V, 10)])
        assert outcomes(results) == {"True": 1, "conflict": 1}
    assert (await bal(backend, U))[1] + (await bal(backend, V))[1] == 50


async def test_c39_reserve_races_usage_with_only_two_outcomes(backend: Backend) -> None:
    m = backend.metering
    seen = set()
    for i in range(12):
        user = f"user-{i}"
        await m.grant_once(user, "initial", 100)
        calls: list[Awaitable[Any]] = [m.reserve(user, f"R-{i}", 60, TTL),
                                       m.record_usage(f"use-{i}", user, 50)]
        if i % 2:
            calls.reverse()
        results = await gather(calls)
        outcomes(results)
        reserved = not any(isinstance(r, InsufficientCreditError) for r in results)
        available = (await bal(backend, user))[4]
        assert (reserved, available) in {(True, -10), (False, 50)}
        seen.add(reserved)
    assert seen  # which interleavings occur depends on the backend; both are legal


# --------------------------------------------------------------------------- E. expiry


async def test_e62_concurrent_sweeps_charge_once(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    await m.grant_once(U, "initial", 5_000_000)
    rid = await m.reserve(U, "R", 1_000_000, TTL)
    await m.mark_reservation_fallback_charge(U, rid)
    clock.advance(seconds=STALE_SECONDS)
    results = await gather([m.expire_stale_reservations() for _ in range(5)])
    outcomes(results)
    assert sum(r for r in results if isinstance(r, int)) == 1
    assert [r.id for r in await raw(backend).list_usage(U)] == [f"usage-fallback:{rid}"]
    assert (await bal(backend))[1] == 1_000_000


async def test_e63_settle_races_sweep_never_charged_twice(backend: Backend, clock: ManualClock) -> None:
    m = backend.metering
    rids = []
    for i in range(8):
        user = f"user-{i}"
        await m.grant_once(user, "initial", 5_000_000)
        rid = await m.reserve(user, f"R-{i}", 1_000_000, TTL)
        await m.mark_reservation_fallback_charge(user, rid)
        rids.append((user, rid))
    clock.advance(seconds=STALE_SECONDS)
    for i, (user, rid) in enumerate(rids):
        calls: list[Awaitable[Any]] = [m.finish_reservation("settled", reservation_id=rid),
                                       m.expire_stale_reservations()]
        if i % 2:
            calls.reverse()
        outcomes(await gather(calls))
        assert (await bal(backend, user))[1] in {0, 1_000_000}
        row = await raw(backend).get_reservation(rid)
        assert row is not None and row.status == "settled"
        fallback = [r for r in await raw(backend).list_usage(user) if r.id.startswith("usage-fallback:")]
        assert len(fallback) <= 1


# --------------------------------------------------------------------------- G. purchases


async def test_g93_identical_purchase_raced_is_credited_once(backend: Backend) -> None:
    m = backend.metering
    results = await gather([m.grant_purchase_once("ord-1", U, 10_000_000) for _ in range(10)])
    assert outcomes(results) == {"True": 1, "False": 9}
    assert len(await raw(backend).list_grants(U)) == 1
    assert (await bal(backend))[0] == 10_000_000


async def test_g93b_purchase_raced_by_two_users(backend: Backend) -> None:
    m = backend.metering
    results = await gather([m.grant_purchase_once("ord-1", U, 10), m.grant_purchase_once("ord-1", V, 10)])
    assert outcomes(results) == {"True": 1, "conflict": 1}
    assert (await bal(backend, U))[0] + (await bal(backend, V))[0] == 10


async def test_g94_grant_races_full_refund_always_nets_to_zero(backend: Backend) -> None:
    m = backend.metering
    rng = random.Random(94)
    for i in range(50):
        user, order = f"user-{i}", f"ord-{i}"
        calls: list[Awaitable[Any]] = [m.grant_purchase_once(order, user, 10_000_000),
                                       m.revoke_purchase(order, allow_tombstone=True)]
        rng.shuffle(calls)
        outcomes(await gather(calls))
        assert await remaining(backend, user) == 0, i
        purchase = await raw(backend).get_purchase(order)
        assert purchase is not None and purchase.status == "refunded", i


async def test_g95_grant_races_partial_refund(backend: Backend) -> None:
    m = backend.metering
    rng = random.Random(95)
    for i in range(12):
        user, order = f"user-{i}", f"ord-{i}"
        calls: list[Awaitable[Any]] = [m.grant_purchase_once(order, user, 10_000_000),
                                       m.revoke_purchase(order, refund_fraction=0.5, allow_tombstone=True)]
        rng.shuffle(calls)
        outcomes(await gather(calls))
        assert await remaining(backend, user) == 5_000_000, i


async def test_g96_same_partial_refund_raced_is_applied_once(backend: Backend) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    results = await gather([m.revoke_purchase("ord-1", refund_fraction=0.3) for _ in range(10)])
    assert outcomes(results) == {"True": 1, "False": 9}
    assert await remaining(backend) == 7_000_000


@pytest.mark.parametrize("seed", range(3))
async def test_g97_cumulative_refunds_raced_in_any_order(backend: Backend, seed: int) -> None:
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 10_000_000)
    fractions = [0.3, 0.5, 0.8]
    random.Random(seed).shuffle(fractions)
    outcomes(await gather([m.revoke_purchase("ord-1", refund_fraction=f) for f in fractions]))
    purchase = await raw(backend).get_purchase("ord-1")
    assert purchase is not None and purchase.refunded_micros == 8_000_000
    assert await remaining(backend) == 2_000_000
    assert sum((await refund_debits(backend)).values()) == 8_000_000


async def test_refund_races_reserve_and_usage(backend: Backend) -> None:
    """A refund takes the user lock after the order lock; admissions never see a pre-refund
    balance once it started, and the books always add up."""
    m = backend.metering
    await m.grant_purchase_once("ord-1", U, 1_000)
    calls: list[Awaitable[Any]] = [m.reserve(U, f"run-{i}", 100, TTL) for i in range(8)]
    calls += [m.revoke_purchase("ord-1", refund_fraction=0.5), m.record_usage("use-1", U, 100)]
    results = await gather(calls)
    outcomes(results)
    granted, used, rem, reserved, available = await bal(backend)
    assert (granted, used, rem) == (1_000, 600, 400)
    admitted = sum(isinstance(r, str) for r in results[:8])
    assert reserved == 100 * admitted
    assert available == rem - reserved
    # whatever the interleaving, the 400 left after refund and usage admit at least four holds
    assert 4 <= admitted <= 8
