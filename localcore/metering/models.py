"""Request and response models of the credits routes: the routes validate what comes in and shape what
goes out through them, and the OpenAPI document is generated from them.

Bodies are lenient like upstream's handlers: a checkout body may carry other keys, and one that is not an
object buys the default pack. Responses are built from the service's records through these models.
"""

from __future__ import annotations

import re
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, StrictStr, ValidationError

from localcore.errors import CreditsError

DEFAULT_HISTORY_LIMIT = 20
HISTORY_LIMIT_MAX = 50
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")
INVALID_PACK = ("invalid_pack", "unknown credit pack")


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)


def dump(model: BaseModel) -> dict[str, Any]:
    """The JSON body of a response model (optional fields that are unset are left out)."""
    body: dict[str, Any] = model.model_dump(mode="json", exclude_none=True)
    return body


# --------------------------------------------------------------------------- requests


class CheckoutBody(BaseModel):
    """``{pack?}``: the pack to buy; missing or null buys the default pack."""

    model_config = ConfigDict(defer_build=True, extra="allow", frozen=True)
    pack: StrictStr | None = None

    @classmethod
    def read(cls, data: object) -> CheckoutBody:
        """The body as sent (anything but an object reads as ``{}``); a ``pack`` that is not a string is
        an unknown pack: 400 ``invalid_pack``."""
        try:
            return cls.model_validate(data if isinstance(data, dict) else {})
        except ValidationError:
            raise CreditsError(400, *INVALID_PACK) from None


class HistoryQuery(BaseModel):
    """``?limit=N``: read with ``parseInt`` prefix semantics (``"5abc"`` → 5), clamped to 1..50; missing
    or garbage is 20."""

    limit: str | None = None

    @property
    def entries(self) -> int:
        return parse_history_limit(self.limit)


def parse_history_limit(value: object) -> int:
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _LEADING_INT.match(value) if isinstance(value, str) else None
        if match is None:
            return DEFAULT_HISTORY_LIMIT
        number = int(match.group(1))
    return max(1, min(HISTORY_LIMIT_MAX, number))


# --------------------------------------------------------------------------- responses


class PackOut(_Out):
    id: str
    creditMicros: int
    priceMinor: int
    currency: str
    label: str
    isDefault: bool
    custom: Literal[True] | None = None


class BalanceResponse(_Out):
    """The shaped balance: never-negative ``remaining``/``available`` plus ``debt``; ``packs`` when a
    checkout is wired."""

    enabled: bool
    userId: str
    grantedMicros: int
    usedMicros: int
    activeReservedMicros: int
    remainingMicros: int
    availableMicros: int
    debtMicros: int
    currency: str
    checkoutEnabled: bool
    packs: list[PackOut] | None = None


class LedgerEntryOut(_Out):
    id: str
    kind: Literal["grant", "purchase", "usage", "refund", "fallback"]
    amountMicros: int
    createdAt: str
    description: str


class HistoryResponse(_Out):
    entries: list[LedgerEntryOut]


class CheckoutResponse(_Out):
    url: str


class WebhookResponse(_Out):
    ok: bool
    reason: str | None = None
    orderId: str | None = None
    created: bool | None = None


class DeliveredWebhook(WebhookResponse):
    """What the webhook answered the offline checkout's signed event."""

    status: int


class DevCheckoutResponse(_Out):
    id: str
    pack: str
    amountMicros: int
    price: str
    priceMinor: int
    currency: str
    status: Literal["open", "paid", "refunded"]
    webhook: DeliveredWebhook | None = None
