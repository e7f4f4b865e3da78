"""Stripe one-time credit packs (Checkout Sessions): the webhook's scheme and decisions, checkout.

Exact scheme: ``Stripe-Signature: t=<unix s>,v1=<hex>[,v1=…]``, where v1 is HMAC-SHA256 of
``"<t>.<raw body>"`` under the endpoint secret; any v1 may match (constant time), and
``|now - t| > tolerance`` (300 s) is a replay (a tolerance ≤ 0 disables the window). The session metadata
carries ``uat = hex(HMAC(attribution secret, "credit:" + user_id + ":" + pack_id))``, binding the buyer to
the pack our server sold. Grants are keyed per PaymentIntent, so retries never double-credit. The flow and
its answers are ``webhooks.PaymentWebhook``'s.
"""

from __future__ import annotations

import math
from collections.abc import Mapping
from dataclasses import dataclass

import aiohttp

from localcore.contract.clock import Clock
from localcore.metering.checkout import CheckoutFailed, CreditPack, call_provider, fixed_packs, resolve_pack
from localcore.metering.payload import as_number as _number
from localcore.metering.payload import as_object as _obj
from localcore.metering.payload import as_text as _text
from localcore.metering.service import CreditsService
from localcore.metering.webhooks import (
    PaymentWebhook,
    PurchaseIdentity,
    UserExists,
    WebhookConfig,
    header,
    hmac_hex,
    net_paid_minor,
    same_text,
)

DEFAULT_TOLERANCE_SECONDS = 300
REFUND_EVENTS = ("charge.refunded", "charge.dispute.created")


def sign_attribution(user_id: str, pack_id: str, secret: str) -> str:
    return hmac_hex(secret, f"credit:{user_id}:{pack_id}")


def verify_attribution(user_id: str | None, pack_id: str | None, token: str | None,
                       secrets: tuple[str, ...]) -> bool:
    if not user_id or not pack_id or not token:
        return False
    return any(s and same_text(sign_attribution(user_id, pack_id, s), token) for s in secrets)


def _js_number_text(value: float) -> str:
    """``String(Number(t))``: integral values print without a fraction, as Stripe signs them."""
    return str(int(value)) if value.is_integer() else repr(value)


def parse_signature_header(value: str) -> tuple[float | None, list[str]]:
    t: float | None = None
    v1: list[str] = []
    for part in value.split(","):
        key, sep, item = part.partition("=")
        if not sep or not key.strip():
            continue
        key, item = key.strip(), item.strip()
        if key == "t":
            try:
                number = float(item)
            except ValueError:
                continue
            if math.isfinite(number):
                t = number
        elif key == "v1" and item:
            v1.append(item)
    return t, v1


def sign_payload(raw: bytes, secret: str, timestamp: int) -> str:
    """The ``Stripe-Signature`` header value Stripe would send for ``raw`` at ``timestamp``."""
    return f"t={timestamp},v1={hmac_hex(secret, f'{timestamp}.'.encode() + raw)}"


def verify_signature(raw: bytes, signature: str | None, secret: str, *, now_seconds: float,
                     tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS) -> bool:
    if not signature or not secret:
        return False
    t, candidates = parse_signature_header(signature)
    if t is None or not candidates:
        return False
    if tolerance_seconds > 0 and abs(now_seconds - t) > tolerance_seconds:
        return False
    body = raw.decode("utf-8", errors="replace")
    expected = hmac_hex(secret, f"{_js_number_text(t)}.{body}")
    return any(same_text(expected, candidate) for candidate in candidates)


@dataclass(frozen=True, slots=True)
class CustomPack:
    id: str
    min_minor: int


@dataclass(frozen=True, slots=True)
class StripeCheckout:
    secret_key: str
    prices: dict[str, str]  # pack id -> price id
    default_pack: str
    redirect_url: str
    custom_price_id: str | None = None
    api_base_url: str = "https://api.stripe.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class StripeConfig(WebhookConfig):
    credit_micros_by_pack: dict[str, int]
    tolerance_seconds: float = DEFAULT_TOLERANCE_SECONDS
    custom_pack: CustomPack | None = None


@dataclass(frozen=True, slots=True)
class StripeEvent:
    event_type: str
    payment_intent_id: str | None = None
    session_id: str | None = None
    user_id: str | None = None
    uat: str | None = None
    payment_status: str | None = None
    livemode: bool | None = None
    currency: str | None = None
    amount_subtotal: float | None = None
    amount_total: float | None = None
    amount_discount: float | None = None
    amount_tax: float | None = None
    pack_id: str | None = None
    amount: float | None = None
    amount_refunded: float | None = None


def _id(value: object) -> str | None:
    """A Stripe id field: a bare string or an expanded ``{id}`` object."""
    if isinstance(value, str):
        return value or None
    obj = _obj(value)
    return _text(obj.get("id")) if obj else None


def parse_event(payload: object) -> StripeEvent | None:
    root = _obj(payload)
    event_type = _text(root.get("type")) if root else None
    data = _obj(root.get("data")) if root else None
    obj = _obj(data.get("object")) if data else None
    if event_type is None or obj is None:
        return None
    livemode = obj.get("livemode") if isinstance(obj.get("livemode"), bool) else None
    currency = _text(obj.get("currency"))
    currency = currency.lower() if currency else None
    if event_type.startswith("checkout.session."):
        meta = _obj(obj.get("metadata")) or {}
        totals = _obj(obj.get("total_details")) or {}
        return StripeEvent(
            event_type=event_type, payment_intent_id=_id(obj.get("payment_intent")), session_id=_text(obj.get("id")),
            user_id=_text(meta.get("user_id")) or _text(obj.get("client_reference_id")), uat=_text(meta.get("uat")),
            payment_status=_text(obj.get("payment_status")), livemode=livemode, currency=currency,
            amount_subtotal=_number(obj.get("amount_subtotal")), amount_total=_number(obj.get("amount_total")),
            amount_discount=_number(totals.get("amount_discount")), amount_tax=_number(totals.get("amount_tax")),
            pack_id=_text(meta.get("pack_id")))
    if event_type in REFUND_EVENTS:
        return StripeEvent(event_type=event_type, payment_intent_id=_id(obj.get("payment_intent")),
                           livemode=livemode, currency=currency, amount=_number(obj.get("amount")),
                           amount_refunded=_number(obj.get("amount_refunded")))
    return StripeEvent(event_type=event_type)


def _net_paid_minor(event: StripeEvent) -> float | None:
    return net_paid_minor(event.amount_subtotal, event.amount_discount, event.amount_total, event.amount_tax,
                          allow_zero_total=True)


class StripeWebhook(PaymentWebhook[StripeEvent]):
    """``POST /api/credits/webhooks/stripe``."""

    name = "stripe"
    order_noun = "session"
    item_noun = "pack"
    status_reason = "payment_status"
    unparseable_reason = "unparseable_event"
    missing_id_reason = "missing_payment_intent"
    creditable_events = ("checkout.session.completed", "checkout.session.async_payment_succeeded")
    refund_events = REFUND_EVENTS

    def __init__(self, config: StripeConfig, service: CreditsService, user_exists: UserExists,
                 clock: Clock) -> None:
        super().__init__(config, service, user_exists)
        self.config = config
        self.clock = clock

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        return verify_signature(raw, header(headers, "Stripe-Signature"), self.config.webhook_secret,
                                now_seconds=self.clock().timestamp(), tolerance_seconds=self.config.tolerance_seconds)

    def parse(self, payload: object) -> StripeEvent | None:
        return parse_event(payload)

    def event_type(self, event: StripeEvent) -> str:
        return event.event_type

    def order_id(self, event: StripeEvent) -> str | None:
        return event.payment_intent_id

    def missing_id_reference(self, event: StripeEvent) -> str | None:
        return event.session_id

    def purchase_key(self, order_id: str) -> str:
        return f"stripe:{'test' if self.expected_test_mode else 'live'}:{order_id}"

    def strict(self, event: StripeEvent) -> bool:
        return (event.livemode is not None and event.livemode == (not self.expected_test_mode)
                and event.currency is not None and event.currency == self.currency.lower())

    def lenient(self, event: StripeEvent) -> bool:
        if event.livemode is not None and event.livemode != (not self.expected_test_mode):
            return False
        return not (event.currency is not None and event.currency != self.currency.lower())

    def known_pack(self, event: StripeEvent) -> bool:
        custom = self.config.custom_pack
        return event.pack_id is not None and (
            event.pack_id in self.config.credit_micros_by_pack or (custom is not None and event.pack_id == custom.id))

    def is_credit_order(self, event: StripeEvent) -> bool:
        return self.known_pack(event) and self.strict(event)

    def is_unverified_credit_order(self, event: StripeEvent) -> bool:
        return self.known_pack(event) and not self.strict(event)

    def is_our_store_order(self, event: StripeEvent) -> bool:
        return self.credit_only_store and self.lenient(event)

    def payment_status(self, event: StripeEvent) -> str | None:
        return event.payment_status

    def attributed(self, event: StripeEvent) -> bool:
        secrets = tuple(s for s in self.config.attribution_secrets if s)
        return bool(secrets) and verify_attribution(event.user_id, event.pack_id, event.uat, secrets)

    def buyer(self, event: StripeEvent) -> str | None:
        return event.user_id

    def credit_micros(self, event: StripeEvent) -> int:
        """A fixed pack is worth its id; the custom pack what was paid, from its minimum up."""
        custom = self.config.custom_pack
        if custom is not None and event.pack_id == custom.id:
            net = _net_paid_minor(event)
            per_unit = self.config.credit_micros_per_unit or 0
            if net is None or net <= 0 or net < custom.min_minor:
                return 0
            return math.floor(net * per_unit / 100)
        return self.config.credit_micros_by_pack.get(event.pack_id or "", 0)

    def net_paid_minor(self, event: StripeEvent) -> float | None:
        return _net_paid_minor(event)

    def identity(self, event: StripeEvent) -> PurchaseIdentity:
        return PurchaseIdentity(None, self.expected_test_mode, event.currency.upper() if event.currency else None,
                                event.pack_id)

    def refund_fraction(self, event: StripeEvent) -> float | None:
        """A dispute revokes everything; a refund the refunded share of the charge."""
        if event.event_type == "charge.refunded" and event.amount_refunded and event.amount and \
                event.amount_refunded > 0 and event.amount > 0:
            return event.amount_refunded / event.amount
        return None


class StripeCheckoutProvider:
    """Hosted checkout through ``POST /v1/checkout/sessions`` (form-encoded)."""

    name = "stripe"

    def __init__(self, checkout: StripeCheckout, custom_pack: CustomPack | None, attribution_secret: str,
                 currency: str) -> None:
        self.checkout = checkout
        self.custom_pack = custom_pack if checkout.custom_price_id else None
        self.attribution_secret = attribution_secret
        self.currency = currency.upper()

    def packs(self) -> list[CreditPack]:
        packs = fixed_packs(list(self.checkout.prices), self.checkout.default_pack, self.currency)
        if self.custom_pack is not None:
            packs.append(CreditPack(self.custom_pack.id, 0, self.custom_pack.min_minor, self.currency,
                                    "Custom amount", self.checkout.default_pack == self.custom_pack.id,
                                    custom=True))
        return packs

    def resolve_pack(self, pack: object) -> str | None:
        custom = () if self.custom_pack is None else (self.custom_pack.id,)
        return resolve_pack(pack, self.checkout.default_pack, {*self.checkout.prices, *custom})

    async def create_checkout(self, http: aiohttp.ClientSession | None, *, user_id: str, email: str | None,
                              pack_id: str) -> str:
        custom = self.custom_pack is not None and pack_id == self.custom_pack.id
        price = self.checkout.custom_price_id if custom else self.checkout.prices.get(pack_id)
        if not price or not price.startswith("price_") or not pack_id:
            raise CheckoutFailed(f"no valid price for pack {pack_id!r}")
        redirect = self.checkout.redirect_url
        joiner = "&" if "?" in redirect else "?"
        form = {
            "mode": "payment",
            "line_items[0][price]": price,
            "line_items[0][quantity]": "1",
            "line_items[0][adjustable_quantity][enabled]": "false",
            "adaptive_pricing[enabled]": "false",
            "client_reference_id": user_id,
            "metadata[user_id]": user_id,
            "metadata[pack_id]": pack_id,
            "payment_intent_data[metadata][user_id]": user_id,
            "payment_intent_data[metadata][pack_id]": pack_id,
            "metadata[uat]": sign_attribution(user_id, pack_id, self.attribution_secret),
            "success_url": f"{redirect}{joiner}checkout=return",
            "cancel_url": f"{redirect}{joiner}checkout=cancelled",
        }
        if email:
            form["customer_email"] = email
        url = f"{self.checkout.api_base_url.rstrip('/')}/v1/checkout/sessions"
        result = await call_provider(http, self.name, url, data=form,
                                     headers={"Authorization": f"Bearer {self.checkout.secret_key}"})
        hosted = result.get("url") if isinstance(result, dict) else None
        if not isinstance(hosted, str) or not hosted:
            raise CheckoutFailed("stripe answer has no url")
        return hosted
