"""The ledger rules every backend shares (reference/metering.md §3): validation, rounding, ids, ledger
view, and the pure decision logic of purchases, refunds, usage replays and expiry top-ups.

Backends only read rows, hand them to these functions and write what comes back, so memory, SQLite and
Postgres cannot drift apart on a rule. Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
import uuid
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, replace
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any

from localcore.metering.types import (
    SAFE_INTEGER_MAX,
    CreditGrantRecord,
    CreditLedgerEntry,
    CreditPurchaseRecord,
    LedgerKind,
    MeteringBalance,
    MeteringConflictError,
    MeteringRangeError,
    MeteringValidationError,
    UsageLedgerRecord,
    UsageReservationRecord,
)

PPM = 1_000_000
LEDGER_VIEW_MAX = 50
# Maintained per-user totals saturate here: every true total above SAFE_INTEGER_MAX is reported as out of
# range anyway, and cap + one safe amount still fits a signed 64-bit integer (SQLite never overflows).
TOTAL_CAP = 2**62

DEFAULT_PURCHASE_SOURCE = "lemonsqueezy"
DEFAULT_REFUND_SOURCE = "lemonsqueezy-refund"
EXPIRED_FALLBACK_SOURCE = "pi-chat-expired"


# --------------------------------------------------------------------------- validation


def is_safe_int(value: object) -> bool:
    """A real ``int`` (never ``bool``) within the JS safe integer range."""
    if not isinstance(value, int) or isinstance(value, bool):
        return False
    return -SAFE_INTEGER_MAX <= value <= SAFE_INTEGER_MAX


def require_positive(value: object, label: str) -> int:
    if not is_safe_int(value) or value <= 0:  # type: ignore[operator]
        raise MeteringValidationError(f"{label} must be a positive integer")
    return value  # type: ignore[return-value]


def require_non_negative(value: object, label: str) -> int:
    if not is_safe_int(value) or value < 0:  # type: ignore[operator]
        raise MeteringValidationError(f"{label} must be a non-negative integer")
    return value  # type: ignore[return-value]


def optional_non_negative(value: object, label: str) -> int:
    return 0 if value is None else require_non_negative(value, label)


def require_text(value: object, message: str) -> str:
    if not isinstance(value, str) or not value:
        raise MeteringValidationError(message)
    return value


def optional_text(value: object, label: str) -> str | None:
    if value is not None and not isinstance(value, str):
        raise MeteringValidationError(f"{label} must be a string")
    return value


def require_ttl(value: object) -> timedelta:
    """``ttlSeconds``: finite and > 0, fractions allowed; the TTL as a timedelta (microsecond precision)."""
    if isinstance(value, bool) or not isinstance(value, Real):
        raise MeteringValidationError("reserve ttlSeconds must be positive")
    seconds = float(value)
    if not math.isfinite(seconds) or seconds <= 0:
        raise MeteringValidationError("reserve ttlSeconds must be positive")
    try:
        return timedelta(seconds=seconds)
    except OverflowError:
        raise MeteringValidationError("reserve ttlSeconds is too large") from None


def exact_fraction(value: object) -> Fraction:
    """``refundFraction`` as an exact rational: a float is read as the decimal it prints as (0.3 is 3/10),
    so refund targets carry no binary float drift."""
    message = "revokePurchase refundFraction must be a non-negative number"
    result: Fraction
    if isinstance(value, bool):
        raise MeteringValidationError(message)
    if isinstance(value, int | Fraction):
        result = Fraction(value)
    elif isinstance(value, Decimal):
        if not value.is_finite():
            raise MeteringValidationError(message)
        result = Fraction(value)
    elif isinstance(value, Real):
        number = float(value)
        if not math.isfinite(number):
            raise MeteringValidationError(message)
        result = Fraction(repr(number))
    else:
        raise MeteringValidationError(message)
    if result < 0:
        raise MeteringValidationError(message)
    return result


def check_safe_total(value: int, label: str) -> int:
    if value > SAFE_INTEGER_MAX or value < -SAFE_INTEGER_MAX:
        raise MeteringRangeError(f"metering {label} exceeds the safe integer range")
    return value


def capped_add(total: int, amount: int) -> int:
    """What a maintained total becomes after adding ``amount`` (saturating at ``TOTAL_CAP``)."""
    return min(total + amount, TOTAL_CAP)


def clamp_ledger_limit(limit: object) -> int:
    """``clamp(trunc(limit), 1, 50)``; anything non-numeric or non-finite is 1."""
    if isinstance(limit, bool) or not isinstance(limit, Real):
        return 1
    number = float(limit)
    if not math.isfinite(number):
        return 1
    return max(1, min(LEDGER_VIEW_MAX, math.trunc(number)))


# --------------------------------------------------------------------------- rounding


def round_half_up(value: Fraction) -> int:
    """JS ``Math.round`` for the non-negative values here: 2.5 -> 3, 0.5 -> 1."""
    return math.floor(value + Fraction(1, 2))


def refund_target(credited: int, fraction: Fraction) -> int:
    """Cumulative credits revoked for a cumulative refund fraction, capped at what was credited."""
    return min(credited, round_half_up(credited * min(Fraction(1), fraction)))


def fraction_to_ppm(fraction: Fraction) -> int:
    return round_half_up(fraction * PPM)


def ppm_share(amount: int, ppm: int) -> int:
    """``min(amount, round_half_up(amount * ppm / 1e6))`` in integers."""
    return min(amount, (2 * amount * ppm + PPM) // (2 * PPM))


# --------------------------------------------------------------------------- ids and the ledger view


def fnv1a32_hex(text: str) -> str:
    """FNV-1a 32 over UTF-16 code units (as upstream's JS), 8 lowercase hex digits."""
    data = text.encode("utf-16-le", "surrogatepass")
    value = 0x811C9DC5
    for i in range(0, len(data), 2):
        value ^= data[i] | (data[i + 1] << 8)
        value = (value * 0x01000193) & 0xFFFFFFFF
    return f"{value:08x}"


def grant_view_id(grant_id: str) -> str:
    return "g_" + fnv1a32_hex(grant_id)


def usage_view_id(usage_id: str) -> str:
    return "u_" + fnv1a32_hex(usage_id)


def purchase_reason(order_id: str) -> str:
    return f"purchase:{order_id}"


def refund_ledger_id(order_id: str, target_micros: int) -> str:
    return f"refund:{order_id}:{target_micros}"


def expiry_fallback_ledger_id(reservation_id: str) -> str:
    return f"usage-fallback:{reservation_id}"


def grant_kind(reason: str) -> tuple[LedgerKind, str]:
    if reason == "signup_grant":
        return "grant", "Signup grant"
    if reason.startswith("purchase:"):
        return "purchase", "Credit purchase"
    return "grant", "Credit grant"


def usage_kind(source: str) -> tuple[LedgerKind, str]:
    if source == DEFAULT_REFUND_SOURCE:
        return "refund", "Refund"
    if source.startswith(("pi-chat-fallback", "pi-chat-expired")):
        return "fallback", "Usage reconciliation"
    return "usage", "Agent usage"


def ledger_view(grants: Iterable[CreditGrantRecord], debits: Iterable[UsageLedgerRecord],
                cap: int) -> list[CreditLedgerEntry]:
    """Merge the newest ``cap`` grants and the newest ``cap`` billed debits into the display history:
    newest first; on equal times grants before debits, then by raw id descending (deterministic)."""
    keyed: list[tuple[tuple[datetime, int, str], CreditLedgerEntry]] = []
    for grant in grants:
        kind, description = grant_kind(grant.reason)
        entry = CreditLedgerEntry(grant_view_id(grant.id), kind, grant.amount_micros, grant.created_at,
                                  description)
        keyed.append(((grant.created_at, 1, grant.id), entry))
    for row in debits:
        if row.billed_cost_micros <= 0:
            continue
        kind, description = usage_kind(row.source)
        entry = CreditLedgerEntry(usage_view_id(row.id), kind, -row.billed_cost_micros, row.created_at,
                                  description)
        keyed.append(((row.created_at, 0, row.id), entry))
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [entry for _, entry in keyed[:cap]]


# --------------------------------------------------------------------------- usage rows


def reservation_tag(metadata: Mapping[str, Any] | None) -> str | None:
    """``metadata.reservationId`` as text (absent or null -> None), as Postgres ``->>`` would give it."""
    if not metadata:
        return None
    value = metadata.get("reservationId")
    if value is None:
        return None
    if isinstance(value, str):
        return value
    return json.dumps(value, separators=(",", ":"))


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


@dataclass(frozen=True, slots=True)
class Debit:
    """A verified ledger debit to post (§3.4)."""

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
    """After ``ON CONFLICT DO NOTHING`` skipped the insert: the row must be this very debit."""
    if (existing is None or existing.user_id != debit.user_id
            or existing.billed_cost_micros != debit.amount_micros):
        raise MeteringConflictError(
            f"ledger debit conflict for {debit.id}: an existing row has another user or amount"
        )


# --------------------------------------------------------------------------- purchases


@dataclass(frozen=True, slots=True)
class GrantPurchasePlan:
    granted: bool
    purchase: CreditPurchaseRecord | None = None  # the row to write (None: write nothing)
    insert: bool = False  # True: a new row; False: update the existing one
    grant_amount: int = 0  # > 0: insert grant 'purchase:<order>' of this amount
    debit: Debit | None = None


def plan_grant_purchase(existing: CreditPurchaseRecord | None, *, order_id: str, user_id: str, amount: int,
                        source: str, store_id: str | None, test_mode: bool | None, currency: str | None,
                        variant_id: str | None, now: datetime) -> GrantPurchasePlan:
    """§3.2, decided from the purchase row read under the order lock."""
    if existing is None:
        row = CreditPurchaseRecord(
            order_id=order_id, user_id=user_id, amount_micros=amount, status="granted", source=source,
            created_at=now, store_id=store_id, test_mode=test_mode, currency=currency, variant_id=variant_id,
        )
        return GrantPurchasePlan(granted=True, purchase=row, insert=True, grant_amount=amount)
    if existing.status != "refund_pending":
        if existing.status == "granted" and (
            (existing.user_id, existing.amount_micros, existing.store_id, existing.test_mode,
             existing.currency, existing.variant_id)
            != (user_id, amount, store_id, test_mode, currency, variant_id)
        ):
            raise MeteringConflictError(
                f"grantPurchaseOnce: order {order_id} was already granted with a different user, amount or "
                "identity; refusing conflicting re-grant"
            )
        return GrantPurchasePlan(granted=False)
    revoke = ppm_share(amount, existing.pending_refund_ppm or 0)
    row = replace(
        existing, user_id=user_id, amount_micros=amount,
        status="refunded" if revoke >= amount else "granted", pending_refund_ppm=None,
        refunded_micros=revoke if revoke > 0 else None, refunded_at=now if revoke > 0 else None,
        store_id=store_id, test_mode=test_mode, currency=currency, variant_id=variant_id,
    )
    debit = None
    if revoke > 0:
        debit = Debit(
            id=refund_ledger_id(order_id, revoke), user_id=user_id, amount_micros=revoke,
            source=DEFAULT_REFUND_SOURCE,
            metadata={"kind": "purchase_refund", "orderId": order_id, "refundedToMicros": revoke,
                      "appliedAtGrant": True},
        )
    return GrantPurchasePlan(granted=True, purchase=row, insert=False, grant_amount=amount, debit=debit)


def grant_already_existed(order_id: str) -> MeteringConflictError:
    return MeteringConflictError(f"purchase {order_id} claimed but a credit grant already existed")


@dataclass(frozen=True, slots=True)
class RevokePlan:
    purchase: CreditPurchaseRecord | None = None  # the row to write (None: write nothing)
    insert: bool = False
    lock_user: str | None = None  # take this user's lock before writing (order lock is held)
    debit: Debit | None = None  # revoked = whether this debit was inserted


def plan_revoke(existing: CreditPurchaseRecord | None, *, order_id: str, fraction: Fraction, source: str,
                allow_tombstone: bool, expected_store_id: str | None, expected_test_mode: bool | None,
                expected_currency: str | None, now: datetime) -> RevokePlan:
    """§3.3, decided from the purchase row read under the order lock."""
    full_fraction = fraction >= 1
    if existing is None:
        if not allow_tombstone:
            return RevokePlan()
        row = CreditPurchaseRecord(
            order_id=order_id, user_id=None, amount_micros=None,
            status="refunded" if full_fraction else "refund_pending", source=DEFAULT_PURCHASE_SOURCE,
            created_at=now, refunded_at=now,
            pending_refund_ppm=None if full_fraction else fraction_to_ppm(fraction),
            store_id=expected_store_id, test_mode=expected_test_mode,
        )
        return RevokePlan(purchase=row, insert=True)
    if existing.status == "refund_pending":
        if full_fraction:
            row = replace(existing, status="refunded", pending_refund_ppm=None, refunded_at=now)
        else:
            ppm = max(existing.pending_refund_ppm or 0, fraction_to_ppm(fraction))
            row = replace(existing, pending_refund_ppm=ppm, refunded_at=now)
        return RevokePlan(purchase=row)
    mismatch = (
        (existing.store_id is not None and expected_store_id is not None
         and existing.store_id != expected_store_id)
        or (existing.test_mode is not None and expected_test_mode is not None
            and existing.test_mode != expected_test_mode)
        or (existing.currency is not None and expected_currency is not None
            and existing.currency.upper() != expected_currency.upper())
    )
    if mismatch:
        raise MeteringConflictError(
            f"refund identity mismatch for {order_id}: the stored store, mode or currency differs"
        )
    credited = existing.amount_micros or 0
    already = existing.refunded_micros or 0
    target = refund_target(credited, fraction)
    delta = target - already
    full = target >= credited
    if delta <= 0:
        if full and existing.status != "refunded":
            return RevokePlan(purchase=replace(existing, status="refunded", refunded_at=now),
                              lock_user=existing.user_id)
        return RevokePlan(lock_user=existing.user_id)
    assert existing.user_id is not None  # a granted row always has a user (table check)
    debit = Debit(
        id=refund_ledger_id(order_id, target), user_id=existing.user_id, amount_micros=delta, source=source,
        metadata={"kind": "purchase_refund", "orderId": order_id, "refundedToMicros": target},
    )
    row = replace(existing, refunded_micros=target, status="refunded" if full else existing.status,
                  refunded_at=now)
    return RevokePlan(purchase=row, lock_user=existing.user_id, debit=debit)


# --------------------------------------------------------------------------- reservations


def expiry_top_up(reservation: UsageReservationRecord, billed_for_reservation: int) -> Debit | None:
    """§3.13: a claimed, *marked* hold is topped up to its amount; unmarked holds are simply freed."""
    if not reservation.charge_on_expire:
        return None
    top_up = max(0, reservation.amount_micros - billed_for_reservation)
    if top_up <= 0:
        return None
    return Debit(
        id=expiry_fallback_ledger_id(reservation.id), user_id=reservation.user_id, amount_micros=top_up,
        source=EXPIRED_FALLBACK_SOURCE, run_id=reservation.run_id,
        metadata={"kind": "reservation_expired_fallback", "reservationId": reservation.id},
    )


def finish_matchable(status: object) -> tuple[str, ...]:
    """Which statuses a finish may move from: settle also recovers an expired row."""
    if status == "settled":
        return ("active", "expired")
    if status == "released":
        return ("active",)
    raise MeteringValidationError("finishReservation status must be 'settled' or 'released'")


def validate_finish(reservation_id: object, run_id: object, user_id: object) -> None:
    if reservation_id is None and run_id is None:
        raise MeteringValidationError("finishReservation requires reservationId or runId")
    if reservation_id is None and user_id is None:
        raise MeteringValidationError("finishReservation by runId requires userId")
    for value, label in ((reservation_id, "reservationId"), (run_id, "runId"), (user_id, "userId")):
        optional_text(value, label)


def ambiguous_finish(run_id: str) -> MeteringConflictError:
    return MeteringConflictError(
        f"finishReservation by runId {run_id} is ambiguous (multiple rows); pass reservationId"
    )


def run_conflict(run_id: str) -> MeteringConflictError:
    return MeteringConflictError(f"reserve: run {run_id} already holds an active reservation of another user")


@dataclass(frozen=True, slots=True)
class BalanceParts:
    """The four figures a balance is made of, as read from maintained totals and small live sums."""

    perpetual_granted: int
    expiring_granted: int
    used: int
    reserved: int


def build_balance(user_id: str, parts: BalanceParts) -> MeteringBalance:
    """The balance of §3.8, failing closed when a sum leaves the safe integer range."""
    granted = check_safe_total(parts.perpetual_granted + parts.expiring_granted, "granted")
    used = check_safe_total(parts.used, "used")
    reserved = check_safe_total(parts.reserved, "activeReserved")
    remaining = granted - used
    return MeteringBalance(user_id=user_id, granted_micros=granted, used_micros=used,
                           remaining_micros=remaining, active_reserved_micros=reserved,
                           available_micros=remaining - reserved)


# --------------------------------------------------------------------------- argument shaping


def new_id() -> str:
    """Row ids are generated by the application (never by a database default)."""
    return str(uuid.uuid4())


@dataclass(frozen=True, slots=True)
class ReserveArgs:
    amount: int
    ttl: timedelta
    min_available: int


def reserve_args(user_id: object, run_id: object, amount_micros: object, ttl_seconds: object,
                 min_available_micros: object) -> ReserveArgs:
    """§3.10 validation (nothing is written when it fails)."""
    amount = require_positive(amount_micros, "reserve amountMicros")
    ttl = require_ttl(ttl_seconds)
    if min_available_micros is None:
        min_available = amount
    else:
        min_available = require_non_negative(min_available_micros, "reserve minAvailableMicros")
    require_text(user_id, "reserve requires a userId")
    require_text(run_id, "reserve requires a runId")
    return ReserveArgs(amount, ttl, min_available)


def usage_row(usage_id: object, user_id: object, billed_cost_micros: object, *, created_at: datetime,
              workspace_id: object = None, session_id: object = None, run_id: object = None,
              message_id: object = None, source: object = None, provider: object = None,
              model: object = None, input_tokens: object = None, output_tokens: object = None,
              cache_read_tokens: object = None, cache_write_tokens: object = None,
              provider_cost_micros: object = None, stop_reason: object = None,
              metadata: object = None) -> UsageLedgerRecord:
    """§3.5: validate a ``record_usage`` call and apply the defaults; the row to insert or compare."""
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
