"""The credits ledger: its records, errors, vocabulary and the store Protocol (``backend.metering``).

Credits are integer *micros*; every amount and sum stays within the JavaScript safe integer range
(``SAFE_INTEGER_MAX``), and a sum that would leave it fails closed (``MeteringRangeError``). The rules the
stores apply (validation, refund arithmetic, replay checks, the ledger view) are written once in
``rules_ledger`` and ``rules_ledger_writes``; both kinds of backend call them.

``MeteringStore`` is what every backend exposes as ``backend.metering``. ``MeteringInspector`` is a small
read-only window on the raw rows (purchases, reservations, ledger rows, grants) for the contract suite
and operators; every bundled backend implements both. ``docs/contract.md`` ("The ledger") describes the
concepts and the locks.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

from localcore.contract.audit import AuditRecord

SAFE_INTEGER_MAX = 2**53 - 1

LedgerKind = Literal["grant", "purchase", "usage", "refund", "fallback"]
PurchaseStatus = Literal["granted", "refunded", "refund_pending"]
ReservationStatus = Literal["active", "settled", "released", "expired"]
FinishStatus = Literal["settled", "released"]


class MeteringError(Exception):
    """Base of ledger errors."""


class MeteringValidationError(MeteringError, ValueError):
    """Bad arguments ("positive integer", "ttlSeconds must be positive", ...); nothing was written."""


class MeteringConflictError(MeteringError):
    """An idempotency key reused with conflicting content, or a provider identity mismatch."""


class MeteringRangeError(MeteringError, OverflowError):
    """A sum left the safe integer range (|n| <= 2**53 - 1): fail closed rather than lose precision."""


class InsufficientCreditError(MeteringError):
    """``reserve`` refused: fewer credits available than required."""

    status_code = 402
    code = "PAYMENT_REQUIRED"

    def __init__(self, available_micros: int, required_micros: int) -> None:
        super().__init__(
            f"insufficient credit: {available_micros} micros available, {required_micros} required"
        )
        self.available_micros = available_micros
        self.required_micros = required_micros


@dataclass(frozen=True, slots=True)
class LedgerVocabulary:
    """The names a metering service gives the rows the ledger writes on its own, and the names its ledger
    view singles out.

    The ledger reads no meaning into a source or a reason except through this vocabulary, so the product's
    names belong to the metering service, which hands them to the store (``MeteringStore.with_vocabulary``).
    The defaults are the generic words a store speaks until it is given a vocabulary.
    """

    purchase_source: str = "purchase"
    """``source`` of a purchase row credited without one, and of a refund's tombstone."""
    refund_source: str = "refund"
    """``source`` of refund debits when ``revoke_purchase`` names none, and of a refund netted at grant."""
    expired_hold_source: str = "expired-hold"
    """``source`` of the debit that tops a marked hold up to its amount when the hold expires."""
    signup_grant_reason: str | None = None
    """The grant reason the ledger view describes as "Signup grant" (None: no grant is)."""
    fallback_sources: tuple[str, ...] = ()
    """Prefixes of the service's fallback-charge sources, shown (with ``expired_hold_source``) as
    "Usage reconciliation"."""


@dataclass(frozen=True, slots=True)
class MeteringBalance:
    """``granted`` (unexpired grants) - ``used`` (every debit) = ``remaining``; ``remaining`` - the live
    holds = ``available``. Both may be negative (debt)."""

    user_id: str
    granted_micros: int
    used_micros: int
    remaining_micros: int
    active_reserved_micros: int
    available_micros: int


@dataclass(frozen=True, slots=True)
class CreditLedgerEntry:
    """One display-safe history line: an opaque id (``g_``/``u_`` + a hash), never a raw key."""

    id: str
    kind: LedgerKind
    amount_micros: int
    created_at: datetime
    description: str


# --------------------------------------------------------------------------- raw rows


@dataclass(frozen=True, slots=True)
class CreditGrantRecord:
    """A positive credit, unique per (user, reason); an expiring one counts while ``expires_at > now``."""

    id: str
    user_id: str
    amount_micros: int
    reason: str
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CreditPurchaseRecord:
    """One row per purchase key. A tombstone (a refund that came first) has no user or amount yet; a
    partial one keeps the refunded share in ``pending_refund_ppm`` until the grant nets it."""

    order_id: str
    user_id: str | None
    amount_micros: int | None
    status: PurchaseStatus
    source: str
    created_at: datetime
    refunded_at: datetime | None = None
    refunded_micros: int | None = None
    pending_refund_ppm: int | None = None
    store_id: str | None = None
    test_mode: bool | None = None
    currency: str | None = None
    variant_id: str | None = None


@dataclass(frozen=True, slots=True)
class UsageReservationRecord:
    """A per-run hold with a TTL; ``charge_on_expire`` marks it for a top-up to its amount at expiry."""

    id: str
    user_id: str
    run_id: str
    amount_micros: int
    status: ReservationStatus
    charge_on_expire: bool
    created_at: datetime
    expires_at: datetime
    workspace_id: str | None = None
    session_id: str | None = None
    source: str = ""


@dataclass(frozen=True, slots=True)
class UsageLedgerRecord:
    """One immutable debit row. ``reservation_id`` is ``metadata["reservationId"]`` as text (or None)."""

    id: str
    user_id: str
    billed_cost_micros: int
    created_at: datetime
    source: str = ""
    workspace_id: str | None = None
    session_id: str | None = None
    run_id: str | None = None
    message_id: str | None = None
    provider: str | None = None
    model: str | None = None
    input_tokens: int = 0
    output_tokens: int = 0
    cache_read_tokens: int = 0
    cache_write_tokens: int = 0
    provider_cost_micros: int = 0
    stop_reason: str | None = None
    metadata: dict[str, Any] = field(default_factory=dict)
    reservation_id: str | None = None


# --------------------------------------------------------------------------- protocols


class MeteringStore(Protocol):
    """``backend.metering`` on every backend. Keyword names are part of the contract; ``now`` defaults to
    the backend clock. Every operation is all or nothing, and every write that depends on a balance runs
    under the user's lock (a purchase's order lock first, then the user lock; never the reverse)."""

    def with_vocabulary(self, vocabulary: LedgerVocabulary) -> MeteringStore:
        """This ledger (the same rows, locks and clock) writing and describing rows in ``vocabulary``'s
        names. A store made by a backend speaks the one it was opened with (by default the generic one)."""
        ...

    async def grant_once(self, user_id: str, reason: str, amount_micros: int, *,
                         expires_at: datetime | None = None, audit: AuditRecord | None = None) -> bool:
        """Insert a grant unless (user_id, reason) exists (a replay is a silent no-op). True if created.
        ``audit`` (written only when created) is completed with the user as target and
        ``details.amountMicros``/``reason``."""
        ...

    async def grant_purchase_once(self, order_id: str, user_id: str, amount_micros: int, *,
                                  source: str | None = None, store_id: str | None = None,
                                  test_mode: bool | None = None, currency: str | None = None,
                                  variant_id: str | None = None, audit: AuditRecord | None = None) -> bool:
        """Credit a purchase exactly once per order id (globally) as grant ``purchase:<order_id>``. A
        replay with the same user, amount and provider identity is False; a different one is a conflict.
        A refund that came first is netted: a full one blocks the credit, a partial one is debited.
        ``audit`` is written only when credited, completed with the user, ``details.amountMicros``
        (the credit) and ``orderId``."""
        ...

    async def revoke_purchase(self, order_id: str, *, refund_fraction: float | None = None,
                              source: str | None = None, allow_tombstone: bool = False,
                              expected_store_id: str | None = None,
                              expected_test_mode: bool | None = None,
                              expected_currency: str | None = None, audit: AuditRecord | None = None) -> bool:
        """Revoke the cumulative ``refund_fraction`` (default 1) of a credited order, debiting only the
        increase over what was already revoked (``round_half_up(credited * min(1, fraction))``). True
        if a debit was inserted. An unknown order leaves a tombstone only with ``allow_tombstone``; a
        stored store, mode or currency that differs from an expected one is a conflict. ``audit`` is
        written only with a debit, completed with the user, ``details.amountMicros`` (the debit) and
        ``orderId``."""
        ...

    async def record_usage(self, usage_id: str, user_id: str, billed_cost_micros: int, *,
                           workspace_id: str | None = None, session_id: str | None = None,
                           run_id: str | None = None, message_id: str | None = None,
                           source: str | None = None, provider: str | None = None,
                           model: str | None = None, input_tokens: int | None = None,
                           output_tokens: int | None = None, cache_read_tokens: int | None = None,
                           cache_write_tokens: int | None = None,
                           provider_cost_micros: int | None = None, stop_reason: str | None = None,
                           metadata: dict[str, Any] | None = None) -> bool:
        """Append a debit under a global idempotency id (never refused for lack of balance); a replay
        must match every immutable field, or it is a conflict. True if inserted."""
        ...

    async def reserve(self, user_id: str, run_id: str, amount_micros: int, ttl_seconds: float, *,
                      workspace_id: str | None = None, session_id: str | None = None,
                      source: str | None = None, min_available_micros: int | None = None,
                      now: datetime | None = None) -> str:
        """Place a hold for a run after expiring the user's stale ones; at most one active hold per run
        across users, and the same (user, run) gets its existing hold back. Admits only while
        ``available >= min_available_micros`` (default: the amount); raises InsufficientCreditError."""
        ...

    async def finish_reservation(self, status: FinishStatus, *,
                                 reservation_id: str | None = None, run_id: str | None = None,
                                 user_id: str | None = None) -> bool:
        """Settle or release a hold (by id, or by run and user); settling also recovers an expired hold.
        True if a row changed."""
        ...

    async def expire_stale_reservations(self, *, now: datetime | None = None) -> int:
        """Claim every past-TTL active hold, one user at a time, topping up the marked ones; returns how
        many were claimed."""
        ...

    async def get_balance(self, user_id: str, *, now: datetime | None = None) -> MeteringBalance:
        """Granted (unexpired), used, remaining, active reserved and available micros, from maintained
        totals and the small sets of expiring grants and live holds (never by summing the ledger)."""
        ...

    async def list_ledger(self, user_id: str, limit: int) -> list[CreditLedgerEntry]:
        """Display-safe history: newest first, ``clamp(trunc(limit), 1, 50)`` entries, zero debits
        left out, opaque ids, kinds and descriptions in the store's vocabulary."""
        ...

    async def billed_micros_for_run(self, user_id: str, run_id: str) -> int:
        """Sum billed over the user's ledger rows of ``run_id``."""
        ...

    async def billed_micros_for_reservation(self, user_id: str, reservation_id: str) -> int:
        """Sum billed over the user's ledger rows tagged ``metadata.reservationId``."""
        ...

    async def mark_reservation_fallback_charge(self, user_id: str, reservation_id: str) -> None:
        """Durably flag an active hold so that expiry tops it up to the hold amount."""
        ...


@runtime_checkable
class MeteringInspector(Protocol):
    """Read-only access to the raw rows, for the contract suite and operators (not for services)."""

    async def get_purchase(self, order_id: str) -> CreditPurchaseRecord | None: ...

    async def get_reservation(self, reservation_id: str) -> UsageReservationRecord | None: ...

    async def list_reservations(self, user_id: str) -> list[UsageReservationRecord]:
        """Every reservation of the user, oldest first."""
        ...

    async def get_usage(self, usage_id: str) -> UsageLedgerRecord | None: ...

    async def list_usage(self, user_id: str) -> list[UsageLedgerRecord]:
        """Every ledger row of the user (zero-billed included), oldest first."""
        ...

    async def list_grants(self, user_id: str) -> list[CreditGrantRecord]:
        """Every grant of the user (expired included), oldest first."""
        ...
