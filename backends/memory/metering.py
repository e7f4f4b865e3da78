"""The credits ledger in process memory.

Serialisation: one lock per user and per order key (``users.user_lock_key``/``ledger_locks.order_lock``), always
taken order-first, as the advisory locks on Postgres. Unique keys (a ledger id, a grant's (user, reason),
the one active hold per run) get a lock too, taken last and held to the end of the transaction: the
in-memory twin of a unique index, which makes a second writer of the same key wait for the first and then
see its row. The locks live in a ``KeyedLocks`` registry (``self.locks``), which drops each lock as soon as
nobody holds or waits for it. Atomicity: every operation stages its writes in a ``_Tx`` overlay (reads see
the overlay on top of the committed state) and commits them at the end in one synchronous step, so an
exception anywhere leaves no partial state.

The per-user maintained totals (perpetual grants, used) mirror the SQL backends' balance table; expiring
grants sit in a per-user list sorted by expiry and active holds in a per-user set, so a balance never
walks the ledger.

``yield_points`` (on by default) puts an ``await asyncio.sleep(0)`` between every read and the write that
depends on it, so concurrency tests prove that the locks, not the absence of awaits, give atomicity.
Single event loop only: the locks are asyncio locks.
"""

from __future__ import annotations

import asyncio
import bisect
import heapq
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from contextlib import AbstractAsyncContextManager, AsyncExitStack, asynccontextmanager
from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import TypeVar

from backends.memory.audit import MemoryAuditStore
from localcore.contract import rules_ledger as rules
from localcore.contract import rules_ledger_writes as writes
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.ledger import (
    CreditGrantRecord,
    CreditPurchaseRecord,
    FinishStatus,
    InsufficientCreditError,
    LedgerVocabulary,
    MeteringBalance,
    UsageLedgerRecord,
    UsageReservationRecord,
)
from localcore.contract.ledger_store import MeteringStoreBase
from localcore.contract.locks import KeyedLocks
from localcore.contract.users import user_lock_key

_Row = TypeVar("_Row", CreditGrantRecord, UsageLedgerRecord)
_Listed = TypeVar("_Listed", CreditGrantRecord, UsageLedgerRecord, UsageReservationRecord)


def _grant_key(user_id: str, reason: str) -> str:
    return f"grant:{len(user_id)}:{user_id}:{reason}"


@dataclass
class _State:
    grants: dict[str, CreditGrantRecord] = field(default_factory=dict)
    grant_keys: dict[tuple[str, str], str] = field(default_factory=dict)
    user_grants: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    # user -> sorted [(expires_at, grant id)] of grants that expire
    expiring: dict[str, list[tuple[datetime, str]]] = field(default_factory=lambda: defaultdict(list))
    purchases: dict[str, CreditPurchaseRecord] = field(default_factory=dict)
    reservations: dict[str, UsageReservationRecord] = field(default_factory=dict)
    user_reservations: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    active_runs: dict[str, str] = field(default_factory=dict)  # run_id -> active reservation id
    active_by_user: dict[str, set[str]] = field(default_factory=lambda: defaultdict(set))
    ledger: dict[str, UsageLedgerRecord] = field(default_factory=dict)
    user_ledger: dict[str, list[str]] = field(default_factory=lambda: defaultdict(list))
    billed_by_reservation: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    billed_by_run: dict[tuple[str, str], int] = field(default_factory=lambda: defaultdict(int))
    # maintained per-user totals (the SQL backends' boring_credit_balances)
    perpetual: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    used: dict[str, int] = field(default_factory=lambda: defaultdict(int))
    # the balance row's updated_at: as on SQL, only perpetual grants and ledger rows set it (or make the row)
    totals_updated_at: dict[str, datetime] = field(default_factory=dict)


class _Tx:
    """Staged writes over the committed state; ``commit()`` applies them, dropping the object rolls back."""

    def __init__(self, state: _State, stack: AsyncExitStack | None = None) -> None:
        self.s = state
        self.stack = stack
        self.grants: dict[str, CreditGrantRecord] = {}
        self.purchases: dict[str, CreditPurchaseRecord] = {}
        self.reservations: dict[str, UsageReservationRecord] = {}
        self.ledger: dict[str, UsageLedgerRecord] = {}
        self.events: list[AuditRecord] = []  # written by commit(), with the rows

    # ---- reads (overlay first)
    def purchase(self, order_id: str) -> CreditPurchaseRecord | None:
        return self.purchases.get(order_id) or self.s.purchases.get(order_id)

    def reservation(self, reservation_id: str) -> UsageReservationRecord | None:
        return self.reservations.get(reservation_id) or self.s.reservations.get(reservation_id)

    def usage(self, usage_id: str) -> UsageLedgerRecord | None:
        return self.ledger.get(usage_id) or self.s.ledger.get(usage_id)

    def grant_exists(self, user_id: str, reason: str) -> bool:
        return (user_id, reason) in self.s.grant_keys or any(
            g.user_id == user_id and g.reason == reason for g in self.grants.values()
        )

    def user_reservations(self, user_id: str) -> list[UsageReservationRecord]:
        ids = list(self.s.user_reservations.get(user_id, ()))
        ids += [r.id for r in self.reservations.values() if r.user_id == user_id and r.id not in
                self.s.reservations]
        return [r for r in (self.reservation(i) for i in ids) if r is not None]

    def active_reservations(self, user_id: str) -> list[UsageReservationRecord]:
        ids = set(self.s.active_by_user.get(user_id, ())) | {
            r.id for r in self.reservations.values() if r.user_id == user_id
        }
        rows = (self.reservation(i) for i in ids)
        return [r for r in rows if r is not None and r.status == "active"]

    def active_run_owner(self, run_id: str) -> UsageReservationRecord | None:
        for row in self.reservations.values():
            if row.run_id == run_id and row.status == "active":
                return row
        committed = self.s.active_runs.get(run_id)
        if committed is None:
            return None
        current = self.reservation(committed)
        return current if current is not None and current.status == "active" else None

    def billed_for_reservation(self, user_id: str, reservation_id: str) -> int:
        staged = sum(r.billed_cost_micros for r in self.ledger.values()
                     if r.user_id == user_id and r.reservation_id == reservation_id)
        return self.s.billed_by_reservation.get((user_id, reservation_id), 0) + staged

    def balance(self, user_id: str, now: datetime) -> MeteringBalance:
        s = self.s
        perpetual = s.perpetual.get(user_id, 0)
        expiring = 0
        entries = s.expiring.get(user_id, [])
        for _, grant_id in entries[bisect.bisect_right(entries, (now, "\U0010ffff")):]:
            expiring += s.grants[grant_id].amount_micros
        for grant in self.grants.values():
            if grant.user_id != user_id:
                continue
            if grant.expires_at is None:
                perpetual += grant.amount_micros
            elif grant.expires_at > now:
                expiring += grant.amount_micros
        used = s.used.get(user_id, 0) + sum(r.billed_cost_micros for r in self.ledger.values()
                                            if r.user_id == user_id)
        reserved = sum(r.amount_micros for r in self.active_reservations(user_id) if r.expires_at > now)
        return rules.build_balance(user_id, rules.BalanceParts(perpetual, expiring, used, reserved))

    # ---- staged writes
    def add_grant(self, row: CreditGrantRecord) -> None:
        self.grants[row.id] = row

    def put_purchase(self, row: CreditPurchaseRecord) -> None:
        self.purchases[row.order_id] = row

    def put_reservation(self, row: UsageReservationRecord) -> None:
        if row.status == "active":
            owner = self.active_run_owner(row.run_id)
            if owner is not None and owner.id != row.id:
                raise writes.run_conflict(row.run_id)
        self.reservations[row.id] = row

    def add_usage(self, row: UsageLedgerRecord) -> None:
        self.ledger[row.id] = row

    # ---- commit: pure dict work, cannot fail half-way
    def commit(self) -> None:
        s = self.s
        for grant in self.grants.values():
            s.grants[grant.id] = grant
            s.grant_keys[(grant.user_id, grant.reason)] = grant.id
            s.user_grants[grant.user_id].append(grant.id)
            if grant.expires_at is None:
                s.perpetual[grant.user_id] += grant.amount_micros
                s.totals_updated_at[grant.user_id] = grant.created_at
            else:
                bisect.insort(s.expiring[grant.user_id], (grant.expires_at, grant.id))
        for purchase in self.purchases.values():
            s.purchases[purchase.order_id] = purchase
        for row in self.reservations.values():
            old = s.reservations.get(row.id)
            if old is None:
                s.user_reservations[row.user_id].append(row.id)
            elif old.status == "active":
                s.active_by_user[old.user_id].discard(old.id)
                if s.active_runs.get(old.run_id) == old.id:
                    del s.active_runs[old.run_id]
            s.reservations[row.id] = row
            if row.status == "active":
                s.active_by_user[row.user_id].add(row.id)
                s.active_runs[row.run_id] = row.id
        for usage in self.ledger.values():
            s.ledger[usage.id] = usage
            s.user_ledger[usage.user_id].append(usage.id)
            s.used[usage.user_id] += usage.billed_cost_micros
            s.totals_updated_at[usage.user_id] = usage.created_at
            if usage.reservation_id is not None:
                s.billed_by_reservation[(usage.user_id, usage.reservation_id)] += usage.billed_cost_micros
            if usage.run_id is not None:
                s.billed_by_run[(usage.user_id, usage.run_id)] += usage.billed_cost_micros


class MemoryMeteringStore(MeteringStoreBase[_Tx]):
    """``MeteringStore`` + ``MeteringInspector`` in process memory."""

    yield_points = True

    def __init__(self, clock: Clock, vocabulary: LedgerVocabulary | None = None) -> None:
        super().__init__(clock, vocabulary)
        self._state = _State()
        #: The per-key locks; empty whenever no ledger operation is running.
        self.locks = KeyedLocks()
        #: Where committed transactions write their events (the backend's audit log).
        self.audit = MemoryAuditStore(clock)

    # ------------------------------------------------------------------ plumbing

    async def _yield(self) -> None:
        if self.yield_points:
            await asyncio.sleep(0)

    @asynccontextmanager
    async def _transaction(self, *keys: str) -> AsyncIterator[_Tx]:
        """Open a staged transaction holding the named locks (order before user); commit on success,
        then release the locks."""
        async with AsyncExitStack() as stack:
            tx = _Tx(self._state, stack)
            for key in keys:
                await self._lock(tx, key)
            yield tx
            tx.commit()
            for record in tx.events:  # the same synchronous step as the commit
                self.audit.write(record)

    async def _lock(self, tx: _Tx, key: str) -> None:
        """Hold ``key`` until ``tx`` ends (the memory twin of ``pg_advisory_xact_lock``)."""
        assert tx.stack is not None
        await tx.stack.enter_async_context(self.locks.hold(key))

    async def _post_verified_debit(self, tx: _Tx, debit: writes.Debit) -> bool:
        """Insert unless the id exists; an existing row must be this very debit."""
        await self._lock(tx, "ledger:" + debit.id)
        existing = tx.usage(debit.id)
        if existing is not None:
            writes.check_verified_debit(existing, debit)
            return False
        tx.add_usage(debit.row(self.clock()))
        return True

    async def _add_grant_once(self, tx: _Tx, grant: CreditGrantRecord) -> bool:
        """Stage ``grant`` unless its (user, reason) exists, holding that key to the end of ``tx``."""
        await self._lock(tx, _grant_key(grant.user_id, grant.reason))
        if tx.grant_exists(grant.user_id, grant.reason):
            return False
        await self._yield()
        tx.add_grant(grant)
        return True

    async def _expire_user(self, tx: _Tx, user_id: str, now: datetime) -> int:
        """Within the caller's user lock: claim past-TTL holds, top up the marked ones."""
        claimed = [r for r in tx.active_reservations(user_id) if r.expires_at <= now]
        claimed.sort(key=lambda r: (r.created_at, r.id))
        for row in claimed:
            tx.put_reservation(replace(row, status="expired"))
        for row in claimed:
            debit = writes.expiry_top_up(row, tx.billed_for_reservation(user_id, row.id), self.vocabulary)
            if debit is not None:
                await self._post_verified_debit(tx, debit)
        return len(claimed)

    # ------------------------------------------------------------------ MeteringStoreBase steps

    def _locked(self, *keys: str) -> AbstractAsyncContextManager[_Tx]:
        return self._transaction(*keys)

    async def _write_audit(self, tx: _Tx, record: AuditRecord) -> None:
        tx.events.append(record)

    async def _lock_user(self, tx: _Tx, user_id: str) -> None:
        await self._lock(tx, user_lock_key(user_id))
        await self._yield()

    async def _read_purchase(self, tx: _Tx, order_id: str) -> CreditPurchaseRecord | None:
        row = tx.purchase(order_id)
        await self._yield()
        return row

    async def _write_purchase(self, tx: _Tx, row: CreditPurchaseRecord, *, insert: bool) -> None:
        tx.put_purchase(row)

    # ------------------------------------------------------------------ MeteringStoreBase requests

    async def _record_usage(self, row: UsageLedgerRecord) -> bool:
        async with self._transaction(user_lock_key(row.user_id), "ledger:" + row.id) as tx:
            existing = tx.usage(row.id)
            await self._yield()
            if existing is not None:
                if writes.usage_conflicts(existing, row):
                    raise writes.usage_collision(row.id)
                return False
            tx.add_usage(row)
            return True

    async def _reserve(self, call: writes.ReserveCall, now: datetime) -> str:
        async with self._transaction(user_lock_key(call.user_id)) as tx:
            await self._expire_user(tx, call.user_id, now)
            for row in tx.active_reservations(call.user_id):
                if row.run_id == call.run_id:
                    return row.id
            balance = tx.balance(call.user_id, now)
            await self._yield()
            if balance.available_micros < call.min_available:
                raise InsufficientCreditError(balance.available_micros, call.min_available)
            await self._lock(tx, "run:" + call.run_id)  # the global one-active-row-per-run index
            hold = call.hold(now)
            tx.put_reservation(hold)
            return hold.id

    async def _finish_reservation(self, status: FinishStatus, matchable: tuple[str, ...],
                                  reservation_id: str | None, run_id: str | None, user_id: str | None) -> bool:
        owner = user_id
        if owner is None and reservation_id is not None:
            found = self._state.reservations.get(reservation_id)
            owner = found.user_id if found is not None else None
        async with self._transaction(*(() if owner is None else (user_lock_key(owner),))) as tx:
            target: UsageReservationRecord | None
            if reservation_id is None:
                assert run_id is not None and user_id is not None
                rows = [r for r in tx.user_reservations(user_id)
                        if r.run_id == run_id and r.status in matchable]
                if not rows:
                    return False
                if len(rows) > 1:
                    raise writes.ambiguous_finish(run_id)
                target = rows[0]
            else:
                target = tx.reservation(reservation_id)
            await self._yield()
            if target is None or target.status not in matchable:
                return False
            if user_id is not None and target.user_id != user_id:
                return False
            tx.put_reservation(replace(target, status=status))
            return True

    async def _expire_stale(self, now: datetime) -> int:
        users = sorted({r.user_id for rid in self._state.active_runs.values()
                        if (r := self._state.reservations[rid]).expires_at <= now})
        total = 0
        for user in users:
            async with self._transaction(user_lock_key(user)) as tx:
                await self._yield()
                total += await self._expire_user(tx, user, now)
        return total

    async def mark_reservation_fallback_charge(self, user_id: str, reservation_id: str) -> None:
        tx = _Tx(self._state)
        row = tx.reservation(reservation_id)
        if row is None or row.user_id != user_id or row.status != "active" or row.charge_on_expire:
            return
        tx.put_reservation(replace(row, charge_on_expire=True))
        tx.commit()

    # ------------------------------------------------------------------ reads

    async def _balance(self, user_id: str, now: datetime) -> MeteringBalance:
        return _Tx(self._state).balance(user_id, now)

    async def _newest_rows(self, user_id: str, cap: int) -> tuple[list[CreditGrantRecord],
                                                                  list[UsageLedgerRecord]]:
        s = self._state
        grants = _newest((s.grants[i] for i in s.user_grants.get(user_id, ())), cap)
        debits = _newest((r for i in s.user_ledger.get(user_id, ())
                          if (r := s.ledger[i]).billed_cost_micros > 0), cap)
        return grants, debits

    async def billed_micros_for_run(self, user_id: str, run_id: str) -> int:
        return self._state.billed_by_run.get((user_id, run_id), 0)

    async def billed_micros_for_reservation(self, user_id: str, reservation_id: str) -> int:
        return self._state.billed_by_reservation.get((user_id, reservation_id), 0)

    async def delete_user_rows(self, user_id: str) -> None:
        """Account deletion's ledger step: drop every credit row of the user (grants, purchases, holds,
        ledger, totals) under the user's lock, so a reservation of the user runs wholly before or after."""
        async with self.locks.hold(user_lock_key(user_id)):
            self._delete_user_rows(user_id)

    def _delete_user_rows(self, user_id: str) -> None:
        s = self._state
        for grant_id in s.user_grants.pop(user_id, []):
            grant = s.grants.pop(grant_id)
            s.grant_keys.pop((grant.user_id, grant.reason), None)
        s.expiring.pop(user_id, None)
        for order_id in [k for k, p in s.purchases.items() if p.user_id == user_id]:
            del s.purchases[order_id]
        for reservation_id in s.user_reservations.pop(user_id, []):
            row = s.reservations.pop(reservation_id)
            if s.active_runs.get(row.run_id) == row.id:
                del s.active_runs[row.run_id]
        s.active_by_user.pop(user_id, None)
        for usage_id in s.user_ledger.pop(user_id, []):
            del s.ledger[usage_id]
        for totals in (s.billed_by_reservation, s.billed_by_run):
            for key in [k for k in totals if k[0] == user_id]:
                del totals[key]
        for per_user in (s.perpetual, s.used, s.totals_updated_at):
            per_user.pop(user_id, None)

    # ------------------------------------------------------------------ MeteringInspector

    async def get_purchase(self, order_id: str) -> CreditPurchaseRecord | None:
        return self._state.purchases.get(order_id)

    async def get_reservation(self, reservation_id: str) -> UsageReservationRecord | None:
        return self._state.reservations.get(reservation_id)

    async def list_reservations(self, user_id: str) -> list[UsageReservationRecord]:
        s = self._state
        return _oldest_first(s.reservations[i] for i in s.user_reservations.get(user_id, ()))

    async def get_usage(self, usage_id: str) -> UsageLedgerRecord | None:
        return self._state.ledger.get(usage_id)

    async def list_usage(self, user_id: str) -> list[UsageLedgerRecord]:
        s = self._state
        return _oldest_first(s.ledger[i] for i in s.user_ledger.get(user_id, ()))

    async def list_grants(self, user_id: str) -> list[CreditGrantRecord]:
        s = self._state
        return _oldest_first(s.grants[i] for i in s.user_grants.get(user_id, ()))


def _newest(rows: Iterable[_Row], cap: int) -> list[_Row]:
    """The ``cap`` newest rows (``created_at DESC, id DESC``), as the SQL queries order them."""
    return heapq.nlargest(cap, rows, key=lambda r: (r.created_at, r.id))


def _oldest_first(rows: Iterable[_Listed]) -> list[_Listed]:
    """``created_at, id`` ascending, as the SQL inspector queries order them."""
    return sorted(rows, key=lambda r: (r.created_at, r.id))
