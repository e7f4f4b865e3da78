"""The ledger rules every backend shares, part one: validation, arithmetic, ids, the balance and the
ledger view. (What a write decides from the rows it read is in ``rules_ledger_writes``.)

Backends only read rows, hand them to these functions and write what comes back, so memory, SQLite and
Postgres cannot drift apart on a rule. Nothing here does I/O.
"""

from __future__ import annotations

import json
import math
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import Decimal
from fractions import Fraction
from numbers import Real
from typing import Any

from localcore.contract.ledger import (
    SAFE_INTEGER_MAX,
    CreditGrantRecord,
    CreditLedgerEntry,
    LedgerKind,
    LedgerVocabulary,
    MeteringBalance,
    MeteringRangeError,
    MeteringValidationError,
    UsageLedgerRecord,
)

PPM = 1_000_000
LEDGER_VIEW_MAX = 50
# Maintained per-user totals saturate here: every true total above SAFE_INTEGER_MAX is reported as out of
# range anyway, and cap + one safe amount still fits a signed 64-bit integer (SQLite never overflows).
TOTAL_CAP = 2**62


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


# --------------------------------------------------------------------------- ids


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
    """The reason of the grant that credits a purchase (unique per user, like every grant reason)."""
    return f"purchase:{order_id}"


def refund_ledger_id(order_id: str, target_micros: int) -> str:
    """A refund debit's id names the cumulative target it brings the order to: a replayed refund webhook
    finds its own row, a larger refund gets a new one."""
    return f"refund:{order_id}:{target_micros}"


def fallback_usage_id(hold_key: str) -> str:
    """The one ledger id of a hold's fallback charge (``hold_key``: the reservation id, or the run id
    when there is none). The service's fallback charge and the expiry top-up of a marked hold share it,
    so a hold is never charged twice."""
    return f"usage-fallback:{hold_key}"


# --------------------------------------------------------------------------- balance


@dataclass(frozen=True, slots=True)
class BalanceParts:
    """The four figures a balance is made of, as read from maintained totals and small live sums."""

    perpetual_granted: int
    expiring_granted: int
    used: int
    reserved: int


def build_balance(user_id: str, parts: BalanceParts) -> MeteringBalance:
    """The balance, failing closed when a sum leaves the safe integer range."""
    granted = check_safe_total(parts.perpetual_granted + parts.expiring_granted, "granted")
    used = check_safe_total(parts.used, "used")
    reserved = check_safe_total(parts.reserved, "activeReserved")
    remaining = granted - used
    return MeteringBalance(user_id=user_id, granted_micros=granted, used_micros=used,
                           remaining_micros=remaining, active_reserved_micros=reserved,
                           available_micros=remaining - reserved)


# --------------------------------------------------------------------------- the ledger view


def grant_kind(reason: str, vocabulary: LedgerVocabulary) -> tuple[LedgerKind, str]:
    if reason == vocabulary.signup_grant_reason:
        return "grant", "Signup grant"
    if reason.startswith(purchase_reason("")):
        return "purchase", "Credit purchase"
    return "grant", "Credit grant"


def usage_kind(source: str, vocabulary: LedgerVocabulary) -> tuple[LedgerKind, str]:
    if source == vocabulary.refund_source:
        return "refund", "Refund"
    if source.startswith((*vocabulary.fallback_sources, vocabulary.expired_hold_source)):
        return "fallback", "Usage reconciliation"
    return "usage", "Agent usage"


def ledger_view(grants: Iterable[CreditGrantRecord], debits: Iterable[UsageLedgerRecord], cap: int,
                vocabulary: LedgerVocabulary) -> list[CreditLedgerEntry]:
    """Merge the newest ``cap`` grants and the newest ``cap`` billed debits into the display history:
    newest first; on equal times grants before debits, then by raw id descending (deterministic)."""
    keyed: list[tuple[tuple[datetime, int, str], CreditLedgerEntry]] = []
    for grant in grants:
        kind, description = grant_kind(grant.reason, vocabulary)
        entry = CreditLedgerEntry(grant_view_id(grant.id), kind, grant.amount_micros, grant.created_at,
                                  description)
        keyed.append(((grant.created_at, 1, grant.id), entry))
    for row in debits:
        if row.billed_cost_micros <= 0:
            continue
        kind, description = usage_kind(row.source, vocabulary)
        entry = CreditLedgerEntry(usage_view_id(row.id), kind, -row.billed_cost_micros, row.created_at,
                                  description)
        keyed.append(((row.created_at, 0, row.id), entry))
    keyed.sort(key=lambda item: item[0], reverse=True)
    return [entry for _, entry in keyed[:cap]]


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
