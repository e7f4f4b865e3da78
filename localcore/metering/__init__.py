"""Credits metering: the ledger contract (``types``), its policy layer, pricing, HTTP routes and webhooks."""

from __future__ import annotations

from localcore.metering.types import (
    CreditLedgerEntry,
    InsufficientCreditError,
    MeteringBalance,
    MeteringConflictError,
    MeteringError,
    MeteringRangeError,
    MeteringStore,
    MeteringValidationError,
)

__all__ = [
    "CreditLedgerEntry",
    "InsufficientCreditError",
    "MeteringBalance",
    "MeteringConflictError",
    "MeteringError",
    "MeteringRangeError",
    "MeteringStore",
    "MeteringValidationError",
]
