"""The ledger rules every backend shares, part two: what a write does. Each ``MeteringStore`` call is
first validated and shaped here (nothing is written when that fails), then decided here from the rows
the backend read under its locks; the backend writes what comes back.

Names the ledger gives rows on its own come from the store's ``LedgerVocabulary``. Nothing here does I/O.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from fractions import Fraction
from typing import Any

from localcore.contract.ids import new_id
from localcore.contract.ledger import (
    CreditGrantRecord,
    CreditPurchaseRecord,
    LedgerVocabulary,
    MeteringConflictError,
    MeteringValidationError,
    UsageLedgerRecord,
    UsageReservationRecord,
)
from localcore.contract.rules_ledger import (
    exact_fraction,
    fallback_usage_id,
    fraction_to_ppm,
    optional_non_negative,
    optional_text,
    ppm_share,
    purchase_reason,
    refund_ledger_id,
    refund_target,
    require_non_negative,
    require_positive,
    require_text,
    require_ttl,
    reservation_tag,
)

# --------------------------------------------------------------------------- debits


@dataclass(frozen=True, slots=True)
class Debit:
    """A debit the ledger posts on its own (a refund, an expiry top-up), *verified*: it is inserted
    unless its id exists, and an existing row must then be this very debit (``check_verified_debit``)."""

    id: str
    user_id: str
    amount_micros: int
    source: str
    metadata: dict[str, Any]
    run_id: str | None = None

    def row(self, created_at: datetime) -> UsageLedgerRecord:
        return UsageLedgerRecord(
            id=self.id, user_id=self.user_id, billed_cost_micros=self.amount_micros, created_at=created_at,
            source=self.source, run_id=self.run_id, metadata=dict(self.metadata),
            reservation_id=reservation_tag(self.metadata),
        )


def check_verified_debit(existing: UsageLedgerRecord | None, debit: Debit) -> None:
    """After an insert was skipped because the id exists: the row must be this very debit."""
    if (existing is None or existing.user_id != debit.user_id
            or existing.billed_cost_micros != debit.amount_micros):
        raise MeteringConflictError(
            f"ledger debit conflict for {debit.id}: an existing row has another user or amount"
        )


# --------------------------------------------------------------------------- grants and usage


def validate_grant(user_id: object, reason: object, amount_micros: object) -> int:
    """``grant_once``'s arguments; the amount."""
    amount = require_positive(amount_micros, "grant amountMicros")
    require_text(user_id, "grantOnce requires a userId")
    require_text(reason, "grantOnce requires a reason")
    return amount


def usage_row(usage_id: object, user_id: object, billed_cost_micros: object, *, created_at: datetime,
              workspace_id: object = None, session_id: object = None, run_id: object = None,
              message_id: object = None, source: object = None, provider: object = None,
              model: object = None, input_tokens: object = None, output_tokens: object = None,
              cache_read_tokens: object = None, cache_write_tokens: object = None,
              provider_cost_micros: object = None, stop_reason: object = None,
              metadata: object = None) -> UsageLedgerRecord:
    """Validate a ``record_usage`` call and apply the defaults; the row to insert or compare."""
    billed = require_non_negative(billed_cost_micros, "billedCostMicros")
    if metadata is not None and not isinstance(metadata, dict):
        raise MeteringValidationError("recordUsage metadata must be an object")
    meta: dict[str, Any] = dict(metadata) if metadata else {}
    return UsageLedgerRecord(
        id=require_text(usage_id, "recordUsage requires a usageId"),
        user_id=require_text(user_id, "recordUsage requires a userId"),
        billed_cost_micros=billed,
        created_at=created_at,
        source=optional_text(source, "source") or "",
        workspace_id=optional_text(workspace_id, "workspaceId"),
        session_id=optional_text(session_id, "sessionId"),
        run_id=optional_text(run_id, "runId"),
        message_id=optional_text(message_id, "messageId"),
        provider=optional_text(provider, "provider"),
        model=optional_text(model, "model"),
        input_tokens=optional_non_negative(input_tokens, "inputTokens"),
        output_tokens=optional_non_negative(output_tokens, "outputTokens"),
        cache_read_tokens=optional_non_negative(cache_read_tokens, "cacheReadTokens"),
        cache_write_tokens=optional_non_negative(cache_write_tokens, "cacheWriteTokens"),
        provider_cost_micros=optional_non_negative(provider_cost_micros, "providerCostMicros"),
        stop_reason=optional_text(stop_reason, "stopReason"),
        metadata=meta,
        reservation_id=reservation_tag(meta),
    )


def usage_conflicts(existing: UsageLedgerRecord, new: UsageLedgerRecord) -> bool:
    """A replay of a usage id must match every immutable field (workspace, session and metadata other
    than ``reservationId`` excepted)."""
    fields = ("user_id", "run_id", "message_id", "source", "provider", "model", "input_tokens",
              "output_tokens", "cache_read_tokens", "cache_write_tokens", "provider_cost_micros",
              "billed_cost_micros", "stop_reason", "reservation_id")
    return any(getattr(existing, name) != getattr(new, name) for name in fields)


def usage_collision(usage_id: str) -> MeteringConflictError:
    return MeteringConflictError(
        f"usage ledger id collision for {usage_id}: an existing row differs from this usage"
    )


# --------------------------------------------------------------------------- purchases


@dataclass(frozen=True, slots=True)
class PurchaseGrant:
    """A validated ``grant_purchase_once`` call, names applied from the vocabulary."""

    order_id: str
    user_id: str
    amount: int
    source: str
    refund_source: str  # of the debit that nets a refund which came before the purchase
    store_id: str | None
    test_mode: bool | None
    currency: str | None
    variant_id: str | None

    @property
    def identity(self) -> tuple[object, ...]:
        """What a replay must repeat: the user, the amount and the provider's identity of the order."""
        return (self.user_id, self.amount, self.store_id, self.test_mode, self.currency, self.variant_id)


def purchase_grant(order_id: object, user_id: object, amount_micros: object, *, source: str | None,
                   store_id: str | None, test_mode: bool | None, currency: str | None,
                   variant_id: str | None, vocabulary: LedgerVocabulary) -> PurchaseGrant:
    order = require_text(order_id, "grantPurchaseOnce requires an orderId")
    amount = require_positive(amount_micros, "purchase amountMicros")
    user = require_text(user_id, "grantPurchaseOnce requires a userId")
    return PurchaseGrant(order, user, amount, vocabulary.purchase_source if source is None else source,
                         vocabulary.refund_source, store_id, test_mode, currency, variant_id)


@dataclass(frozen=True, slots=True)
class GrantPurchasePlan:
    granted: bool
    purchase: CreditPurchaseRecord | None = None  # the row to write (None: write nothing)
    insert: bool = False  # True: a new row; False: update the existing one
    grant: CreditGrantRecord | None = None  # the credit to insert (its reason must still be free)
    debit: Debit | None = None


def plan_grant_purchase(existing: CreditPurchaseRecord | None, call: PurchaseGrant, *,
                        now: datetime) -> GrantPurchasePlan:
    """Decided from the purchase row read under the order lock: credit a new order; refuse a conflicting
    replay; credit a tombstone's order net of its refund (a full refund leaves nothing to credit)."""
    if existing is None:
        row = CreditPurchaseRecord(
            order_id=call.order_id, user_id=call.user_id, amount_micros=call.amount, status="granted",
            source=call.source, created_at=now, store_id=call.store_id, test_mode=call.test_mode,
            currency=call.currency, variant_id=call.variant_id,
        )
        return GrantPurchasePlan(granted=True, purchase=row, insert=True, grant=_purchase_credit(call, now))
    if existing.status != "refund_pending":
        if existing.status == "granted" and (
            (existing.user_id, existing.amount_micros, existing.store_id, existing.test_mode,
             existing.currency, existing.variant_id) != call.identity
        ):
            raise MeteringConflictError(
                f"grantPurchaseOnce: order {call.order_id} was already granted with a different user, "
                "amount or identity; refusing conflicting re-grant"
            )
        return GrantPurchasePlan(granted=False)
    revoke = ppm_share(call.amount, existing.pending_refund_ppm or 0)
    row = replace(
        existing, user_id=call.user_id, amount_micros=call.amount,
        status="refunded" if revoke >= call.amount else "granted", pending_refund_ppm=None,
        refunded_micros=revoke if revoke > 0 else None, refunded_at=now if revoke > 0 else None,
        store_id=call.store_id, test_mode=call.test_mode, currency=call.currency, variant_id=call.variant_id,
    )
    debit = None
    if revoke > 0:
        debit = Debit(
            id=refund_ledger_id(call.order_id, revoke), user_id=call.user_id, amount_micros=revoke,
            source=call.refund_source,
            metadata={"kind": "purchase_refund", "orderId": call.order_id, "refundedToMicros": revoke,
                      "appliedAtGrant": True},
        )
    return GrantPurchasePlan(granted=True, purchase=row, insert=False, grant=_purchase_credit(call, now),
                             debit=debit)


def _purchase_credit(call: PurchaseGrant, now: datetime) -> CreditGrantRecord:
    """The whole amount is granted; a netted refund is a separate debit, so both show in the history."""
    return CreditGrantRecord(id=new_id(), user_id=call.user_id, amount_micros=call.amount,
                             reason=purchase_reason(call.order_id), expires_at=None, created_at=now)


def grant_already_existed(order_id: str) -> MeteringConflictError:
    return MeteringConflictError(f"purchase {order_id} claimed but a credit grant already existed")


@dataclass(frozen=True, slots=True)
class PurchaseRevocation:
    """A validated ``revoke_purchase`` call, names applied from the vocabulary."""

    order_id: str
    fraction: Fraction
    source: str
    tombstone_source: str  # the purchase source of a tombstone (a refund before its purchase)
    allow_tombstone: bool
    expected_store_id: str | None
    expected_test_mode: bool | None
    expected_currency: str | None


def purchase_revocation(order_id: object, *, refund_fraction: object, source: str | None,
                        allow_tombstone: object, expected_store_id: str | None,
                        expected_test_mode: bool | None, expected_currency: str | None,
                        vocabulary: LedgerVocabulary) -> PurchaseRevocation:
    order = require_text(order_id, "revokePurchase requires an orderId")
    fraction = exact_fraction(1 if refund_fraction is None else refund_fraction)
    return PurchaseRevocation(order, fraction, vocabulary.refund_source if source is None else source,
                              vocabulary.purchase_source, allow_tombstone is True, expected_store_id,
                              expected_test_mode, expected_currency)


@dataclass(frozen=True, slots=True)
class RevokePlan:
    purchase: CreditPurchaseRecord | None = None  # the row to write (None: write nothing)
    insert: bool = False
    lock_user: str | None = None  # take this user's lock before writing (order lock is held)
    debit: Debit | None = None  # revoked = whether this debit was inserted


def plan_revoke(existing: CreditPurchaseRecord | None, call: PurchaseRevocation, *,
                now: datetime) -> RevokePlan:
    """Decided from the purchase row read under the order lock: tombstone an unknown order (if allowed),
    raise a tombstone's refund, or debit a credited order up to its new cumulative refund target."""
    order_id, fraction = call.order_id, call.fraction
    full_fraction = fraction >= 1
    if existing is None:
        if not call.allow_tombstone:
            return RevokePlan()
        row = CreditPurchaseRecord(
            order_id=order_id, user_id=None, amount_micros=None,
            status="refunded" if full_fraction else "refund_pending", source=call.tombstone_source,
            created_at=now, refunded_at=now,
            pending_refund_ppm=None if full_fraction else fraction_to_ppm(fraction),
            store_id=call.expected_store_id, test_mode=call.expected_test_mode,
        )
        return RevokePlan(purchase=row, insert=True)
    if existing.status == "refund_pending":
        if full_fraction:
            row = replace(existing, status="refunded", pending_refund_ppm=None, refunded_at=now)
        else:
            ppm = max(existing.pending_refund_ppm or 0, fraction_to_ppm(fraction))
            row = replace(existing, pending_refund_ppm=ppm, refunded_at=now)
        return RevokePlan(purchase=row)
    if _identity_mismatch(existing, call):
        raise MeteringConflictError(
            f"refund identity mismatch for {order_id}: the stored store, mode or currency differs"
        )
    credited = existing.amount_micros or 0
    target = refund_target(credited, fraction)
    delta = target - (existing.refunded_micros or 0)
    full = target >= credited
    if delta <= 0:
        if full and existing.status != "refunded":
            return RevokePlan(purchase=replace(existing, status="refunded", refunded_at=now),
                              lock_user=existing.user_id)
        return RevokePlan(lock_user=existing.user_id)
    assert existing.user_id is not None  # a granted row always has a user (table check)
    debit = Debit(
        id=refund_ledger_id(order_id, target), user_id=existing.user_id, amount_micros=delta,
        source=call.source, metadata={"kind": "purchase_refund", "orderId": order_id, "refundedToMicros": target},
    )
    row = replace(existing, refunded_micros=target, status="refunded" if full else existing.status,
                  refunded_at=now)
    return RevokePlan(purchase=row, lock_user=existing.user_id, debit=debit)


def _identity_mismatch(existing: CreditPurchaseRecord, call: PurchaseRevocation) -> bool:
    """A stored store, mode or currency that differs from an expected one (absent on either side: no
    opinion; currencies compare case-insensitively)."""
    return (
        (existing.store_id is not None and call.expected_store_id is not None
         and existing.store_id != call.expected_store_id)
        or (existing.test_mode is not None and call.expected_test_mode is not None
            and existing.test_mode != call.expected_test_mode)
        or (existing.currency is not None and call.expected_currency is not None
            and existing.currency.upper() != call.expected_currency.upper())
    )


# --------------------------------------------------------------------------- reservations


@dataclass(frozen=True, slots=True)
class ReserveCall:
    """A validated ``reserve`` call."""

    user_id: str
    run_id: str
    amount: int
    ttl: timedelta
    min_available: int  # admit only while available >= this (default: the amount)
    workspace_id: str | None
    session_id: str | None
    source: str

    def hold(self, now: datetime) -> UsageReservationRecord:
        """The new active hold, placed at ``now``."""
        return UsageReservationRecord(
            id=new_id(), user_id=self.user_id, run_id=self.run_id, amount_micros=self.amount, status="active",
            charge_on_expire=False, created_at=now, expires_at=now + self.ttl, workspace_id=self.workspace_id,
            session_id=self.session_id, source=self.source)


def reserve_call(user_id: object, run_id: object, amount_micros: object, ttl_seconds: object, *,
                 min_available_micros: object, workspace_id: str | None, session_id: str | None,
                 source: str | None) -> ReserveCall:
    """``reserve``'s validation (nothing is written when it fails)."""
    amount = require_positive(amount_micros, "reserve amountMicros")
    ttl = require_ttl(ttl_seconds)
    if min_available_micros is None:
        min_available = amount
    else:
        min_available = require_non_negative(min_available_micros, "reserve minAvailableMicros")
    user = require_text(user_id, "reserve requires a userId")
    run = require_text(run_id, "reserve requires a runId")
    return ReserveCall(user, run, amount, ttl, min_available, workspace_id, session_id, source or "")


def run_conflict(run_id: str) -> MeteringConflictError:
    return MeteringConflictError(f"reserve: run {run_id} already holds an active reservation of another user")


def expiry_top_up(reservation: UsageReservationRecord, billed_for_reservation: int,
                  vocabulary: LedgerVocabulary) -> Debit | None:
    """A claimed, *marked* hold is topped up to its amount; unmarked holds are simply freed."""
    if not reservation.charge_on_expire:
        return None
    top_up = max(0, reservation.amount_micros - billed_for_reservation)
    if top_up <= 0:
        return None
    return Debit(
        id=fallback_usage_id(reservation.id), user_id=reservation.user_id, amount_micros=top_up,
        source=vocabulary.expired_hold_source, run_id=reservation.run_id,
        metadata={"kind": "reservation_expired_fallback", "reservationId": reservation.id},
    )


def finish_matchable(status: object, reservation_id: object, run_id: object,
                     user_id: object) -> tuple[str, ...]:
    """Validate a ``finish_reservation`` call; which statuses it may move a hold from (settling also
    recovers an expired hold)."""
    if status == "settled":
        matchable: tuple[str, ...] = ("active", "expired")
    elif status == "released":
        matchable = ("active",)
    else:
        raise MeteringValidationError("finishReservation status must be 'settled' or 'released'")
    if reservation_id is None and run_id is None:
        raise MeteringValidationError("finishReservation requires reservationId or runId")
    if reservation_id is None and user_id is None:
        raise MeteringValidationError("finishReservation by runId requires userId")
    for value, label in ((reservation_id, "reservationId"), (run_id, "runId"), (user_id, "userId")):
        optional_text(value, label)
    return matchable


def ambiguous_finish(run_id: str) -> MeteringConflictError:
    return MeteringConflictError(
        f"finishReservation by runId {run_id} is ambiguous (multiple rows); pass reservationId"
    )
