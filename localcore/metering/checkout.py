"""What every payment provider shares: credit packs, webhook results, the checkout provider interface.

A pack id is its credit value in EUR (``"10"`` grants 10 credits-EUR = 10_000_000 micros), so the id
drives crediting and never the order total; ``priceMinor`` is the same value in cents. Provider variant and
price ids stay server-side: the balance response lists packs without them.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import aiohttp

from localcore.metering.settings import pack_micros

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}


class CheckoutFailed(Exception):
    """The provider did not give us a checkout URL (the route answers 502 ``checkout_failed``)."""


@dataclass(frozen=True, slots=True)
class CreditPack:
    id: str
    credit_micros: int
    price_minor: int
    currency: str
    label: str
    is_default: bool
    custom: bool = False

    def to_json(self) -> dict[str, Any]:
        body: dict[str, Any] = {"id": self.id, "creditMicros": self.credit_micros, "priceMinor": self.price_minor,
                                "currency": self.currency, "label": self.label, "isDefault": self.is_default}
        if self.custom:
            body["custom"] = True
        return body


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """A webhook's answer: ``{ok, reason?, orderId?, created?}`` with the status the provider sees
    (401 bad signature, 400 unparseable, 500 = "retry me", 200 = done or deliberately ignored)."""

    status: int
    body: dict[str, Any] = field(default_factory=dict)

    @classmethod
    def ok(cls, reason: str | None = None, **extra: Any) -> WebhookResult:
        body: dict[str, Any] = {"ok": True}
        if reason:
            body["reason"] = reason
        body.update({k: v for k, v in extra.items() if v is not None})
        return cls(200, body)

    @classmethod
    def fail(cls, status: int, reason: str, **extra: Any) -> WebhookResult:
        return cls(status, {"ok": False, "reason": reason, **{k: v for k, v in extra.items() if v is not None}})


INVALID_SIGNATURE = WebhookResult.fail(401, "invalid_signature")


def price_label(pack_id: str, currency: str) -> str:
    """Locale-style currency label with 0 decimals: ``"€10"``."""
    whole = Decimal(pack_id).to_integral_value(rounding=ROUND_HALF_UP)
    symbol = CURRENCY_SYMBOLS.get(currency)
    return f"{symbol}{whole}" if symbol else f"{currency} {whole}"


def fixed_packs(pack_ids: Sequence[str], default_pack: str | None, currency: str) -> list[CreditPack]:
    """Packs for the balance response; ids that are not positive numbers are skipped."""
    packs: list[CreditPack] = []
    for pack_id in pack_ids:
        micros = pack_micros(pack_id)
        if micros is None:
            continue
        price_minor = int((Decimal(pack_id) * 100).to_integral_value(rounding=ROUND_HALF_UP))
        packs.append(CreditPack(pack_id, micros, price_minor, currency, price_label(pack_id, currency),
                                pack_id == default_pack))
    return packs


def hmac_hex(secret: str, message: bytes | str) -> str:
    data = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def same_text(expected: str, given: str) -> bool:
    """Constant-time comparison of two strings as given (a length mismatch fails, case matters)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogatepass"))


def attribution_secrets(current: str | None, previous: Sequence[str], webhook_secret: str) -> tuple[str, ...]:
    """Current first, then previous ones; blanks dropped; never empty (falls back to the webhook secret),
    so configuration can never switch attribution off."""
    secrets = tuple(s for s in (current, *previous) if s and s.strip())
    return secrets or (webhook_secret,)


def header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None


class CheckoutProvider(Protocol):
    """A hosted checkout: the balance route lists ``packs()``, the checkout route calls ``create_checkout``."""

    name: str

    def packs(self) -> list[CreditPack]: ...

    def resolve_pack(self, pack: object) -> str | None:
        """The pack id to buy for the request's ``pack`` (None/missing = the default); None if unknown."""
        ...

    async def create_checkout(self, http: aiohttp.ClientSession | None, *, user_id: str, email: str | None,
                              pack_id: str) -> str:
        """The hosted checkout URL; raises ``CheckoutFailed``."""
        ...
