"""``MeteringStoreBase``: the half of every ``MeteringStore`` method that is the same on every backend,
written once.

The audited writes (``grant_once``, ``grant_purchase_once``, ``revoke_purchase``) take ``audit=`` and
write it in their transaction (``_write_audit``) only when they credit or debit something, completed with
the user and ``details.amountMicros`` (and the order id or grant reason).

Each public method checks and shapes its call with the rules (``rules_ledger_writes``: nothing is written
when that fails) and applies the store's ``LedgerVocabulary`` and clock. Grants and purchases then run
here, as steps in one transaction of the backend (``Tx``). The other writes hand the backend one
validated request (the ``_…`` methods below): the backend takes the locks ``ledger_locks`` names, reads
the rows, asks the rules and writes their answer, all or nothing. The billed sums and the fallback mark
are the backend's own. A backend may implement ``MeteringStore`` without this class; the bundled ones
use it.
"""

from __future__ import annotations

import copy
from abc import ABC, abstractmethod
from contextlib import AbstractAsyncContextManager
from datetime import datetime
from typing import Any, Generic, Self, TypeVar

from localcore.contract import rules_ledger_writes as writes
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.ids import new_id
from localcore.contract.ledger import (
    CreditGrantRecord,
    CreditLedgerEntry,
    CreditPurchaseRecord,
    FinishStatus,
    LedgerVocabulary,
    MeteringBalance,
    UsageLedgerRecord,
)
from localcore.contract.ledger_locks import order_lock
from localcore.contract.rules_ledger import clamp_ledger_limit, ledger_view

Tx = TypeVar("Tx")


def _about(audit: AuditRecord, user_id: str, amount_micros: int, **details: str) -> AuditRecord:
    """A ledger write's event, completed with what only the ledger knows: the user and the amount."""
    return audit.completed(target_type="user", target_id=user_id,
                           details={"amountMicros": amount_micros, **details})


class MeteringStoreBase(ABC, Generic[Tx]):
    """A ``MeteringStore`` speaking ``vocabulary`` (the generic one by default), stamping rows with
    ``clock``."""

    def __init__(self, clock: Clock, vocabulary: LedgerVocabulary | None = None) -> None:
        self.clock = clock
        self.vocabulary = vocabulary or LedgerVocabulary()

    def with_vocabulary(self, vocabulary: LedgerVocabulary) -> Self:
        view = copy.copy(self)  # the same rows, locks and clock
        view.vocabulary = vocabulary
        return view

    def _now(self, now: datetime | None) -> datetime:
        return self.clock() if now is None else now

    # ------------------------------------------------------------------ the shared half

    async def grant_once(self, user_id: str, reason: str, amount_micros: int, *,
                         expires_at: datetime | None = None, audit: AuditRecord | None = None) -> bool:
        amount = writes.validate_grant(user_id, reason, amount_micros)
        grant = CreditGrantRecord(id=new_id(), user_id=user_id, amount_micros=amount, reason=reason,
                                  expires_at=expires_at, created_at=self.clock())
        async with self._locked() as tx:  # no user lock (as upstream): the (user, reason) key is unique
            created = await self._add_grant_once(tx, grant)
            if created and audit is not None:
                await self._write_audit(tx, _about(audit, user_id, amount, reason=reason))
            return created

    async def grant_purchase_once(self, order_id: str, user_id: str, amount_micros: int, *,
                                  source: str | None = None, store_id: str | None = None,
                                  test_mode: bool | None = None, currency: str | None = None,
                                  variant_id: str | None = None, audit: AuditRecord | None = None) -> bool:
        call = writes.purchase_grant(order_id, user_id, amount_micros, source=source, store_id=store_id,
                                     test_mode=test_mode, currency=currency, variant_id=variant_id,
                                     vocabulary=self.vocabulary)
        async with self._locked(order_lock(call.order_id)) as tx:
            plan = writes.plan_grant_purchase(await self._read_purchase(tx, call.order_id), call, now=self.clock())
            if plan.purchase is not None:
                await self._write_purchase(tx, plan.purchase, insert=plan.insert)
            if plan.grant is not None and not await self._add_grant_once(tx, plan.grant):
                raise writes.grant_already_existed(call.order_id)
            if plan.debit is not None:
                await self._post_verified_debit(tx, plan.debit)
            if plan.granted and plan.grant is not None and audit is not None:
                await self._write_audit(tx, _about(audit, call.user_id, plan.grant.amount_micros,
                                                   orderId=call.order_id))
            return plan.granted

    async def revoke_purchase(self, order_id: str, *, refund_fraction: float | None = None,
                              source: str | None = None, allow_tombstone: bool = False,
                              expected_store_id: str | None = None,
                              expected_test_mode: bool | None = None,
                              expected_currency: str | None = None, audit: AuditRecord | None = None) -> bool:
        call = writes.purchase_revocation(
            order_id, refund_fraction=refund_fraction, source=source, allow_tombstone=allow_tombstone,
            expected_store_id=expected_store_id, expected_test_mode=expected_test_mode,
            expected_currency=expected_currency, vocabulary=self.vocabulary)
        async with self._locked(order_lock(call.order_id)) as tx:
            plan = writes.plan_revoke(await self._read_purchase(tx, call.order_id), call, now=self.clock())
            if plan.lock_user is not None:  # order lock first, then the user lock: debits wait for admissions
                await self._lock_user(tx, plan.lock_user)
            inserted = plan.debit is not None and await self._post_verified_debit(tx, plan.debit)
            if plan.purchase is not None:
                await self._write_purchase(tx, plan.purchase, insert=plan.insert)
            if inserted and plan.debit is not None and audit is not None:
                await self._write_audit(tx, _about(audit, plan.debit.user_id, plan.debit.amount_micros,
                                                   orderId=call.order_id))
            return inserted

    async def record_usage(self, usage_id: str, user_id: str, billed_cost_micros: int, *,
                           workspace_id: str | None = None, session_id: str | None = None,
                           run_id: str | None = None, message_id: str | None = None,
                           source: str | None = None, provider: str | None = None,
                           model: str | None = None, input_tokens: int | None = None,
                           output_tokens: int | None = None, cache_read_tokens: int | None = None,
                           cache_write_tokens: int | None = None,
                           provider_cost_micros: int | None = None, stop_reason: str | None = None,
                           metadata: dict[str, Any] | None = None) -> bool:
        return await self._record_usage(writes.usage_row(
            usage_id, user_id, billed_cost_micros, created_at=self.clock(), workspace_id=workspace_id,
            session_id=session_id, run_id=run_id, message_id=message_id, source=source, provider=provider,
            model=model, input_tokens=input_tokens, output_tokens=output_tokens,
            cache_read_tokens=cache_read_tokens, cache_write_tokens=cache_write_tokens,
            provider_cost_micros=provider_cost_micros, stop_reason=stop_reason, metadata=metadata))

    async def reserve(self, user_id: str, run_id: str, amount_micros: int, ttl_seconds: float, *,
                      workspace_id: str | None = None, session_id: str | None = None,
                      source: str | None = None, min_available_micros: int | None = None,
                      now: datetime | None = None) -> str:
        call = writes.reserve_call(user_id, run_id, amount_micros, ttl_seconds,
                                   min_available_micros=min_available_micros, workspace_id=workspace_id,
                                   session_id=session_id, source=source)
        return await self._reserve(call, self._now(now))

    async def finish_reservation(self, status: FinishStatus, *, reservation_id: str | None = None,
                                 run_id: str | None = None, user_id: str | None = None) -> bool:
        matchable = writes.finish_matchable(status, reservation_id, run_id, user_id)
        return await self._finish_reservation(status, matchable, reservation_id, run_id, user_id)

    async def expire_stale_reservations(self, *, now: datetime | None = None) -> int:
        return await self._expire_stale(self._now(now))

    async def get_balance(self, user_id: str, *, now: datetime | None = None) -> MeteringBalance:
        return await self._balance(user_id, self._now(now))

    async def list_ledger(self, user_id: str, limit: int) -> list[CreditLedgerEntry]:
        cap = clamp_ledger_limit(limit)
        grants, debits = await self._newest_rows(user_id, cap)
        return ledger_view(grants, debits, cap, self.vocabulary)

    # ------------------------------------------------------------------ what a backend supplies: steps

    @abstractmethod
    def _locked(self, *keys: str) -> AbstractAsyncContextManager[Tx]:
        """One transaction holding the locks ``keys`` (in that order) to its end; committed when the block
        ends normally, rolled back when it raises."""

    @abstractmethod
    async def _write_audit(self, tx: Tx, record: AuditRecord) -> None:
        """Write the event inside ``tx``: committed with it, or not at all."""

    @abstractmethod
    async def _lock_user(self, tx: Tx, user_id: str) -> None:
        """Take the user lock inside ``tx`` (an order lock is held already)."""

    @abstractmethod
    async def _read_purchase(self, tx: Tx, order_id: str) -> CreditPurchaseRecord | None: ...

    @abstractmethod
    async def _write_purchase(self, tx: Tx, row: CreditPurchaseRecord, *, insert: bool) -> None: ...

    @abstractmethod
    async def _add_grant_once(self, tx: Tx, grant: CreditGrantRecord) -> bool:
        """Insert ``grant`` unless a grant with its (user, reason) exists; True if inserted."""

    @abstractmethod
    async def _post_verified_debit(self, tx: Tx, debit: writes.Debit) -> bool:
        """Insert the debit unless its id exists (then ``check_verified_debit``); True if inserted."""

    # ------------------------------------------------------------------ what a backend supplies: requests

    @abstractmethod
    async def _record_usage(self, row: UsageLedgerRecord) -> bool:
        """Under the user lock: insert ``row`` unless its id exists; an existing row that
        ``usage_conflicts`` with it is a ``usage_collision``."""

    @abstractmethod
    async def _reserve(self, call: writes.ReserveCall, now: datetime) -> str:
        """Under the user lock: expire the user's stale holds, return the user's active hold of the run if
        there is one, else admit ``call.hold(now)`` only while ``available >= call.min_available``
        (``InsufficientCreditError``); another user's active hold of the run is a ``run_conflict``."""

    @abstractmethod
    async def _finish_reservation(self, status: FinishStatus, matchable: tuple[str, ...],
                                  reservation_id: str | None, run_id: str | None, user_id: str | None) -> bool:
        """Under the owner's user lock: move the one matching hold in a ``matchable`` status (by id, or by
        run and user: several is ``ambiguous_finish``) to ``status``; another user's hold is not found."""

    @abstractmethod
    async def _expire_stale(self, now: datetime) -> int:
        """Each user with a past-TTL active hold, in one user-locked transaction per user: claim the holds
        as expired and post ``expiry_top_up`` for the marked ones."""

    @abstractmethod
    async def _balance(self, user_id: str, now: datetime) -> MeteringBalance:
        """``build_balance`` from one consistent read of the user's totals, live holds and grants."""

    @abstractmethod
    async def _newest_rows(self, user_id: str, cap: int) -> tuple[list[CreditGrantRecord],
                                                                  list[UsageLedgerRecord]]:
        """The user's ``cap`` newest grants and ``cap`` newest billed (> 0) debits, each
        ``created_at DESC, id DESC`` in code-point order."""
