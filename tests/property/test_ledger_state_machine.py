"""A hypothesis state machine over the credits ledger, run on memory, SQLite and Postgres in lockstep.

Every rule performs the same call on all three backends (one shared ManualClock, moved by a rule) and
requires the same outcome everywhere: the same return value (reservation ids are mapped to logical
numbers, since each backend mints its own UUIDs), or the same error class with the same figures. After
every step the invariants hold for each user of the example, on every backend:

- granted - used = remaining, remaining - active_reserved = available;
- the three backends report identical balances, ledger views (up to the opaque ids of rows whose ids are
  random per backend) and purchase rows;
- a reserve that placed a new hold with the default floor never leaves available below zero.

The backends stay open for the whole run; each example works on its own users, orders and runs, so the
global expiry sweep sees the same history everywhere.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from localcore.clock import ManualClock
from localcore.contract.ledger import (
    CreditLedgerEntry,
    InsufficientCreditError,
    MeteringError,
    MeteringInspector,
)
from localcore.store import Backend
from tests.property.lockstep import run_in_lockstep

USERS = ("a", "b")
ORDERS = ("o1", "o2")
RUNS = ("r1", "r2", "r3")
USAGE_IDS = ("use-1", "use-2", "use-3", "use-4")
REASONS = ("signup_grant", "promo", "topup")
FRACTIONS = (None, 0, 0.3, 0.5, 0.8, 1.2)

amounts = st.integers(min_value=1, max_value=1_000)


@dataclass(frozen=True)
class Outcome:
    """What one backend answered, comparable across backends."""

    value: Any = None
    error: str | None = None
    figures: tuple[int, int] | None = None


class LedgerMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    backends: ClassVar[dict[str, Backend]]
    clock: ClassVar[ManualClock]
    examples: ClassVar[Iterator[int]]

    def __init__(self) -> None:
        super().__init__()
        self.prefix = f"x{next(self.examples)}-"
        # per backend: logical reservation number -> that backend's reservation id
        self.reservations: dict[str, list[str]] = {name: [] for name in self.backends}

    # ------------------------------------------------------------------ plumbing

    def key(self, value: str) -> str:
        return self.prefix + value

    def run(self, call: Callable[[str, Backend], Awaitable[Any]]) -> dict[str, Outcome]:
        async def one(name: str, backend: Backend) -> Outcome:
            try:
                return Outcome(value=await call(name, backend))
            except InsufficientCreditError as exc:
                return Outcome(error=type(exc).__name__, figures=(exc.available_micros, exc.required_micros))
            except MeteringError as exc:
                return Outcome(error=type(exc).__name__)

        results = {name: self.loop.run_until_complete(one(name, b)) for name, b in self.backends.items()}
        return results

    def same(self, results: dict[str, Outcome]) -> Outcome:
        first = next(iter(results.values()))
        assert all(r == first for r in results.values()), results
        return first

    def logical(self, name: str, reservation_id: str) -> int:
        known = self.reservations[name]
        if reservation_id not in known:
            known.append(reservation_id)
        return known.index(reservation_id)

    def reservation(self, name: str, index: int) -> str | None:
        known = self.reservations[name]
        return known[index % len(known)] if known else None

    # ------------------------------------------------------------------ rules

    @initialize()
    def start(self) -> None:
        self.clock.advance(days=1)  # a clean slate in time: earlier examples' holds are long stale

    @rule(user=st.sampled_from(USERS), reason=st.sampled_from(REASONS), amount=amounts,
          expires_in=st.sampled_from([None, None, 1, 60, 600]))
    def grant(self, user: str, reason: str, amount: int, expires_in: int | None) -> None:
        expires_at = None if expires_in is None else self.clock() + timedelta(seconds=expires_in)
        self.same(self.run(lambda _n, b: b.metering.grant_once(self.key(user), reason, amount,
                                                               expires_at=expires_at)))

    @rule(order=st.sampled_from(ORDERS), user=st.sampled_from(USERS), amount=amounts,
          store=st.sampled_from([None, "S1"]))
    def purchase(self, order: str, user: str, amount: int, store: str | None) -> None:
        self.same(self.run(lambda _n, b: b.metering.grant_purchase_once(
            self.key(order), self.key(user), amount, store_id=store)))

    @rule(order=st.sampled_from(ORDERS), fraction=st.sampled_from(FRACTIONS), tombstone=st.booleans())
    def revoke(self, order: str, fraction: float | None, tombstone: bool) -> None:
        self.same(self.run(lambda _n, b: b.metering.revoke_purchase(
            self.key(order), refund_fraction=fraction, allow_tombstone=tombstone)))

    @rule(user=st.sampled_from(USERS), run=st.sampled_from(RUNS), amount=amounts,
          ttl=st.sampled_from([0.5, 60, 600]), floor=st.sampled_from([None, None, 0, 100]))
    def reserve(self, user: str, run: str, amount: int, ttl: float, floor: int | None) -> None:
        before = {name: len(self.reservations[name]) for name in self.backends}

        async def call(name: str, b: Backend) -> int:
            rid = await b.metering.reserve(self.key(user), self.key(run), amount, ttl,
                                           min_available_micros=floor)
            index = self.logical(name, rid)
            if floor is None and index >= before[name]:  # a new hold admitted with the default floor
                assert (await b.metering.get_balance(self.key(user))).available_micros >= 0
            return index

        self.same(self.run(call))

    @rule(usage=st.sampled_from(USAGE_IDS), user=st.sampled_from(USERS), billed=st.integers(0, 600),
          tag=st.one_of(st.none(), st.integers(0, 5)), source=st.sampled_from(["pi-chat", "pi-chat-fallback"]))
    def usage(self, usage: str, user: str, billed: int, tag: int | None, source: str) -> None:
        def call(name: str, b: Backend) -> Awaitable[bool]:
            rid = None if tag is None else self.reservation(name, tag)
            metadata = {"reservationId": rid} if rid else None
            return b.metering.record_usage(self.key(usage), self.key(user), billed, source=source,
                                           metadata=metadata)

        self.same(self.run(call))

    @rule(index=st.integers(0, 5), status=st.sampled_from(["settled", "released"]), by_run=st.booleans(),
          user=st.sampled_from(USERS))
    def finish(self, index: int, status: Any, by_run: bool, user: str) -> None:
        def call(name: str, b: Backend) -> Awaitable[bool]:
            rid = self.reservation(name, index)
            if by_run or rid is None:
                return b.metering.finish_reservation(status, run_id=self.key(RUNS[index % len(RUNS)]),
                                                     user_id=self.key(user))
            return b.metering.finish_reservation(status, reservation_id=rid)

        self.same(self.run(call))

    @rule(index=st.integers(0, 5), user=st.sampled_from(USERS))
    def mark(self, index: int, user: str) -> None:
        async def call(name: str, b: Backend) -> None:
            rid = self.reservation(name, index)
            if rid is not None:
                await b.metering.mark_reservation_fallback_charge(self.key(user), rid)

        self.same(self.run(call))

    @rule()
    def expire(self) -> None:
        self.same(self.run(lambda _n, b: b.metering.expire_stale_reservations()))

    @rule(seconds=st.sampled_from([0.3, 1, 30, 300, 601]))
    def tick(self, seconds: float) -> None:
        self.clock.advance(seconds=seconds)

    # ------------------------------------------------------------------ invariants

    @invariant()
    def balances_agree_and_add_up(self) -> None:
        for user in USERS:
            results = self.run(lambda _n, b, u=user: b.metering.get_balance(self.key(u)))  # type: ignore[misc]
            balance = self.same(results).value
            assert balance.granted_micros - balance.used_micros == balance.remaining_micros
            assert balance.remaining_micros - balance.active_reserved_micros == balance.available_micros
            assert balance.active_reserved_micros >= 0 and balance.used_micros >= 0

    @invariant()
    def ledgers_agree(self) -> None:
        def view(entries: list[CreditLedgerEntry]) -> list[tuple[Any, ...]]:
            # grant rows and expiry top-ups carry per-backend UUIDs in their ids: compare the rest
            return sorted((e.created_at, e.kind, e.amount_micros, e.description) for e in entries)

        for user in USERS:
            results = self.run(lambda _n, b, u=user: b.metering.list_ledger(self.key(u), 50))  # type: ignore[misc]
            views = {name: view(r.value) for name, r in results.items()}
            assert len({repr(v) for v in views.values()}) == 1, views

    @invariant()
    def purchases_agree(self) -> None:
        for order in ORDERS:
            async def row(_n: str, b: Backend, o: str = order) -> Any:
                inspector = b.metering
                assert isinstance(inspector, MeteringInspector)
                return await inspector.get_purchase(self.key(o))

            self.same(self.run(row))


def test_ledger_state_machine(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run_in_lockstep(LedgerMachine, request, tmp_path, "ledger.db", steps=25)
