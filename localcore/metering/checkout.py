"""What every checkout shares: credit packs, attribution secrets, the checkout provider interface.

A pack id is its credit value in EUR (``"10"`` grants 10 credits-EUR = 10_000_000 micros), so the id
drives crediting and never the order total; ``priceMinor`` is the same value in cents. Provider variant and
price ids stay server-side: the balance response lists packs without them.
"""

from __future__ import annotations

from collections.abc import Container, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any, Protocol

import aiohttp

from localcore.metering.settings import pack_micros

CURRENCY_SYMBOLS = {"EUR": "€", "USD": "$", "GBP": "£", "JPY": "¥"}
PROVIDER_TIMEOUT = aiohttp.ClientTimeout(total=15)


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


def attribution_secrets(current: str | None, previous: Sequence[str], webhook_secret: str) -> tuple[str, ...]:
    """Current first, then previous ones; blanks dropped; never empty (falls back to the webhook secret),
    so configuration can never switch attribution off."""
    secrets = tuple(s for s in (current, *previous) if s and s.strip())
    return secrets or (webhook_secret,)


def resolve_pack(pack: object, default: str | None, known: Container[str]) -> str | None:
    """The pack to buy for a request's ``pack``: missing (None) is the default, a known id is itself,
    anything else is unknown (None)."""
    if pack is None:
        return default
    return pack if isinstance(pack, str) and pack in known else None


async def call_provider(http: aiohttp.ClientSession | None, name: str, url: str, *, data: Any,
                        headers: Mapping[str, str]) -> object:
    """POST to a provider's API; its JSON answer. Any failure — no client, transport, timeout, a status
    other than 2xx, a body that is not JSON — is ``CheckoutFailed``."""
    if http is None:
        raise CheckoutFailed("no HTTP client")
    try:
        async with http.post(url, data=data, headers=headers, timeout=PROVIDER_TIMEOUT) as response:
            if response.status >= 300:
                raise CheckoutFailed(f"{name} answered {response.status}")
            answer: object = await response.json(content_type=None)
            return answer
    except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
        raise CheckoutFailed(f"{name} request failed: {type(exc).__name__}") from exc


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
