"""The in-process ledger locks (``KeyedLocks``): one lock per key in use, none left behind — whether the
holder finished, failed or was cancelled while waiting — so the memory ledger does not grow a lock per
user and order it has ever seen."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

import pytest

from backends.memory.metering import MemoryMeteringStore
from localcore.contract.clock import ManualClock
from localcore.contract.locks import KeyedLocks


async def test_a_key_is_exclusive_while_held_and_gone_once_released() -> None:
    locks = KeyedLocks()
    order: list[str] = []

    async def hold(key: str, name: str) -> None:
        async with locks.hold(key):
            order.append(f"{name} in")
            await asyncio.sleep(0)
            await asyncio.sleep(0)
            order.append(f"{name} out")

    await asyncio.gather(hold("user:a", "first"), hold("user:a", "second"), hold("user:b", "other"))
    assert order.index("first out") < order.index("second in")  # same key: one at a time
    assert order.index("other in") < order.index("first out")  # another key: no waiting
    assert len(locks) == 0


async def test_a_failed_holder_and_a_cancelled_waiter_leave_nothing_behind() -> None:
    locks = KeyedLocks()
    held = asyncio.Event()
    release = asyncio.Event()

    async def holder() -> None:
        async with locks.hold("order:1"):
            held.set()
            await release.wait()
            raise RuntimeError("the write failed")

    async def waiter() -> None:
        async with locks.hold("order:1"):
            raise AssertionError("never reached: cancelled while waiting")

    first = asyncio.create_task(holder())
    await held.wait()
    second = asyncio.create_task(waiter())
    await asyncio.sleep(0)
    assert len(locks) == 1
    second.cancel()
    with pytest.raises(asyncio.CancelledError):
        await second
    release.set()
    with pytest.raises(RuntimeError):
        await first
    assert len(locks) == 0


async def test_the_memory_ledger_keeps_no_lock_per_user_or_order() -> None:
    store = MemoryMeteringStore(ManualClock(datetime(2026, 1, 1, tzinfo=UTC)))
    users = [f"user-{n}" for n in range(200)]
    await asyncio.gather(*(store.grant_once(u, "signup", 1_000) for u in users))
    await asyncio.gather(*(store.grant_purchase_once(f"order-{u}", u, 500) for u in users))
    holds = await asyncio.gather(*(store.reserve(u, f"run-{u}", 100, 60) for u in users))
    await asyncio.gather(*(store.record_usage(f"use-{u}", u, 10, metadata={"reservationId": h})
                           for u, h in zip(users, holds, strict=True)))
    await asyncio.gather(*(store.revoke_purchase(f"order-{u}", refund_fraction=0.5) for u in users))
    await asyncio.gather(*(store.finish_reservation("settled", reservation_id=h) for h in holds))
    assert await store.expire_stale_reservations() == 0
    assert len(store.locks) == 0
    assert (await store.get_balance(users[0])).remaining_micros == 1_000 + 500 - 10 - 250
