"""The ledger contract (SPEC §5, reference/metering.md §3): records, errors and the store Protocol.

``MeteringStore`` is what every backend exposes as ``backend.metering``. ``MeteringInspector`` is a small
read-only window on the raw rows (purchases, reservations, ledger rows, grants) that the shipped contract
suite and administrators use; every bundled backend implements both.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Literal, Protocol, runtime_checkable

SAFE_INTEGER_MAX = 2**53 - 1

LedgerKind = Literal["grant", "purchase", "usage", "refund", "fallback"]
PurchaseStatus = Literal["granted", "refunded", "refund_pending"]
ReservationStatus = Literal["active", "settled", "released", "expired"]
FinishStatus = Literal["settled", "released"]


class MeteringError(Exception):
    """Base of ledger errors."""


class MeteringValidationError(MeteringError, ValueError):
    """Bad arguments ("positive integer", "ttlSeconds must be positive", ...)."""


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
class MeteringBalance:
    user_id: str
    granted_micros: int
    used_micros: int
    remaining_micros: int
    active_reserved_micros: int
    available_micros: int


@dataclass(frozen=True, slots=True)
class CreditLedgerEntry:
    id: str
    kind: LedgerKind
    amount_micros: int
    created_at: datetime
    description: str


# --------------------------------------------------------------------------- raw rows (metering.md §2)


@dataclass(frozen=True, slots=True)
class CreditGrantRecord:
    id: str
    user_id: str
    amount_micros: int
    reason: str
    expires_at: datetime | None
    created_at: datetime


@dataclass(frozen=True, slots=True)
class CreditPurchaseRecord:
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
    """``backend.metering`` on every backend. Semantics: reference/metering.md §3; keyword names are the
    contract; ``now`` defaults to the backend clock."""

    async def grant_once(self, user_id: str, reason: str, amount_micros: int, *,
                         expires_at: datetime | None = None) -> bool:
        """Insert a grant unless (user_id, reason) exists (a replay is a silent no-op). True if created."""
        ...

    async def grant_purchase_once(self, order_id: str, user_id: str, amount_micros: int, *,
                                  source: str | None = None, store_id: str | None = None,
                                  test_mode: bool | None = None, currency: str | None = None,
                                  variant_id: str | None = None) -> bool:
        """Credit a purchase exactly once per order id (globally), netting a refund that came first."""
        ...

    async def revoke_purchase(self, order_id: str, *, refund_fraction: float | None = None,
                              source: str | None = None, allow_tombstone: bool = False,
                              expected_store_id: str | None = None,
                              expected_test_mode: bool | None = None,
                              expected_currency: str | None = None) -> bool:
        """Revoke the cumulative ``refund_fraction`` (default 1) of a credited order (debit the delta)."""
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
        """Append a debit under a global idempotency id; a replay must match every immutable field."""
        ...

    async def reserve(self, user_id: str, run_id: str, amount_micros: int, ttl_seconds: float, *,
                      workspace_id: str | None = None, session_id: str | None = None,
                      source: str | None = None, min_available_micros: int | None = None,
                      now: datetime | None = None) -> str:
        """Place a hold for a run (idempotent per active (run, user)); raises InsufficientCreditError."""
        ...

    async def finish_reservation(self, status: FinishStatus, *,
                                 reservation_id: str | None = None, run_id: str | None = None,
                                 user_id: str | None = None) -> bool:
        """Settle or release a hold; True if a row changed."""
        ...

    async def expire_stale_reservations(self, *, now: datetime | None = None) -> int:
        """Claim every past-TTL active hold (topping up the marked ones); returns how many."""
        ...

    async def get_balance(self, user_id: str, *, now: datetime | None = None) -> MeteringBalance:
        """Granted (unexpired), used, remaining, active reserved and available micros."""
        ...

    async def list_ledger(self, user_id: str, limit: int) -> list[CreditLedgerEntry]:
        """Display-safe history, newest first, 1..50 entries, opaque ids."""
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
