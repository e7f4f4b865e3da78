"""Lemon Squeezy one-time credit packs: the webhook's scheme and decisions, attribution, checkout.

Exact scheme: ``X-Signature`` is the lowercase hex HMAC-SHA256 of the *raw body* under the webhook secret,
verified in constant time before any JSON is parsed. The buyer is identified by
``meta.custom_data.user_id``, which only counts with a valid ``uat`` =
``hex(HMAC(attribution secret, "credit-user:" + user_id))`` minted by our checkout (any configured secret
verifies, so secrets rotate). An order is ours when its store, mode and currency say so; its variant says
what it is worth (times the quantity). The flow and its answers are ``webhooks.PaymentWebhook``'s.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

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


def sign_attribution(user_id: str, secret: str) -> str:
    return hmac_hex(secret, f"credit-user:{user_id}")


def verify_attribution(user_id: str | None, token: str | None, secrets: tuple[str, ...]) -> bool:
    if not user_id or not token:
        return False
    return any(s and same_text(sign_attribution(user_id, s), token) for s in secrets)


def verify_signature(raw: bytes, signature: str | None, secret: str) -> bool:
    if not signature or not secret:
        return False
    return same_text(hmac_hex(secret, raw), signature)


@dataclass(frozen=True, slots=True)
class LemonSqueezyCheckout:
    api_key: str
    store_id: str
    variants: dict[str, str]  # pack id -> variant id
    default_pack: str
    test_mode: bool
    redirect_url: str | None = None
    api_base_url: str = "https://api.lemonsqueezy.com"


@dataclass(frozen=True, slots=True, kw_only=True)
class LemonSqueezyConfig(WebhookConfig):
    credit_micros_by_variant: dict[str, int]
    expected_store_id: str | None = None


@dataclass(frozen=True, slots=True)
class LemonSqueezyOrder:
    event_name: str
    order_id: str
    user_id: str | None = None
    uat: str | None = None
    status: str | None = None
    test_mode: bool | None = None
    store_id: str | None = None
    currency: str | None = None
    subtotal: float | None = None
    discount_total: float | None = None
    total: float | None = None
    tax: float = 0
    refunded_amount: float = 0
    variant_id: str | None = None
    quantity: int = 1


def _ident(value: object) -> str | None:
    """Ids may be numbers or strings; JSON null is absent (never the string "null")."""
    if value is None or isinstance(value, bool | dict | list):
        return None
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value)


def parse_order(payload: object) -> LemonSqueezyOrder | None:
    root = _obj(payload)
    meta = _obj(root.get("meta")) if root else None
    data = _obj(root.get("data")) if root else None
    attributes = _obj(data.get("attributes")) if data else None
    event_name = _text(meta.get("event_name")) if meta else None
    order_id = _text(data.get("id")) if data else None
    if meta is None or data is None or attributes is None or event_name is None or order_id is None:
        return None
    custom = _obj(meta.get("custom_data")) or {}
    item = _obj(attributes.get("first_order_item")) or {}
    quantity = item.get("quantity")
    return LemonSqueezyOrder(
        event_name=event_name,
        order_id=order_id,
        user_id=_text(custom.get("user_id")),
        uat=_text(custom.get("uat")),
        status=_text(attributes.get("status")),
        test_mode=attributes.get("test_mode") if isinstance(attributes.get("test_mode"), bool) else None,
        store_id=_ident(attributes.get("store_id")),
        currency=_text(attributes.get("currency")),
        subtotal=_number(attributes.get("subtotal")),
        discount_total=_number(attributes.get("discount_total")),
        total=_number(attributes.get("total")),
        tax=_number(attributes.get("tax")) or 0,
        refunded_amount=_number(attributes.get("refunded_amount")) or 0,
        variant_id=_ident(item.get("variant_id")),
        quantity=quantity if isinstance(quantity, int) and not isinstance(quantity, bool) and quantity > 0 else 1,
    )


class LemonSqueezyWebhook(PaymentWebhook[LemonSqueezyOrder]):
    """``POST /api/credits/webhooks/lemonsqueezy``."""

    name = "lemonsqueezy"
    order_noun = "order"
    item_noun = "variant"
    status_reason = "order_status"
    unparseable_reason = "unparseable_order"
    missing_id_reason = "missing_order_id"  # never: an order without an id does not parse
    creditable_events = ("order_created",)
    refund_events = ("order_refunded",)

    def __init__(self, config: LemonSqueezyConfig, service: CreditsService, user_exists: UserExists) -> None:
        super().__init__(config, service, user_exists)
        self.config = config
        self.expected_store_id = config.expected_store_id

    def verify(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        return verify_signature(raw, header(headers, "X-Signature"), self.config.webhook_secret)

    def parse(self, payload: object) -> LemonSqueezyOrder | None:
        return parse_order(payload)

    def event_type(self, event: LemonSqueezyOrder) -> str:
        return event.event_name

    def order_id(self, event: LemonSqueezyOrder) -> str | None:
        return event.order_id

    def purchase_key(self, order_id: str) -> str:
        mode = "test" if self.expected_test_mode else "live"
        return f"ls:{self.expected_store_id or 'default'}:{mode}:{order_id}"

    # Strict = positively ours; lenient = nothing present contradicts us.
    def strict(self, order: LemonSqueezyOrder) -> bool:
        return (order.currency is not None and order.currency.upper() == self.currency
                and order.test_mode is not None and order.test_mode == self.expected_test_mode
                and (self.expected_store_id is None or order.store_id == self.expected_store_id))

    def lenient(self, event: LemonSqueezyOrder) -> bool:
        if event.currency is not None and event.currency.upper() != self.currency:
            return False
        if event.test_mode is not None and event.test_mode != self.expected_test_mode:
            return False
        return not (self.expected_store_id is not None and event.store_id is not None
                    and event.store_id != self.expected_store_id)

    def known_variant(self, order: LemonSqueezyOrder) -> bool:
        return order.variant_id is not None and order.variant_id in self.config.credit_micros_by_variant

    def is_credit_order(self, event: LemonSqueezyOrder) -> bool:
        return self.known_variant(event) and self.strict(event)

    def is_unverified_credit_order(self, event: LemonSqueezyOrder) -> bool:
        return self.known_variant(event) and not self.strict(event) and self.lenient(event)

    def is_our_store_order(self, event: LemonSqueezyOrder) -> bool:
        return self.credit_only_store and self.strict(event)

    def payment_status(self, event: LemonSqueezyOrder) -> str | None:
        return event.status

    def attributed(self, event: LemonSqueezyOrder) -> bool:
        return verify_attribution(event.user_id, event.uat, self.config.attribution_secrets)

    def buyer(self, event: LemonSqueezyOrder) -> str | None:
        return event.user_id

    def credit_micros(self, event: LemonSqueezyOrder) -> int:
        assert event.variant_id is not None  # is_credit_order checked it
        return self.config.credit_micros_by_variant[event.variant_id] * max(1, event.quantity)

    def net_paid_minor(self, event: LemonSqueezyOrder) -> float | None:
        return net_paid_minor(event.subtotal, event.discount_total, event.total, event.tax,
                              allow_zero_total=False)

    def identity(self, event: LemonSqueezyOrder) -> PurchaseIdentity:
        return PurchaseIdentity(event.store_id, event.test_mode, event.currency, event.variant_id)

    def refund_fraction(self, event: LemonSqueezyOrder) -> float | None:
        if event.refunded_amount > 0 and event.total is not None and event.total > 0:
            return event.refunded_amount / event.total
        return None


class LemonSqueezyCheckoutProvider:
    """Hosted checkout through ``POST /v1/checkouts`` (JSON:API)."""

    name = "lemonsqueezy"

    def __init__(self, checkout: LemonSqueezyCheckout, attribution_secret: str, currency: str) -> None:
        self.checkout = checkout
        self.attribution_secret = attribution_secret
        self.currency = currency.upper()

    def packs(self) -> list[CreditPack]:
        return fixed_packs(list(self.checkout.variants), self.checkout.default_pack, self.currency)

    def resolve_pack(self, pack: object) -> str | None:
        return resolve_pack(pack, self.checkout.default_pack, self.checkout.variants)

    async def create_checkout(self, http: aiohttp.ClientSession | None, *, user_id: str, email: str | None,
                              pack_id: str) -> str:
        variant = self.checkout.variants[pack_id]
        if not variant.isdigit() or int(variant) <= 0:
            raise CheckoutFailed(f"variant id {variant!r} is not a positive integer")
        checkout_data: dict[str, Any] = {
            "variant_quantities": [{"variant_id": int(variant), "quantity": 1}],
            "custom": {"user_id": user_id, "uat": sign_attribution(user_id, self.attribution_secret)},
        }
        if email:
            checkout_data["email"] = email
        product_options: dict[str, Any] = {"enabled_variants": [int(variant)]}
        if self.checkout.redirect_url:
            product_options["redirect_url"] = self.checkout.redirect_url
        body = {"data": {
            "type": "checkouts",
            "attributes": {"test_mode": self.checkout.test_mode, "checkout_data": checkout_data,
                           "checkout_options": {"discount": False}, "product_options": product_options},
            "relationships": {"store": {"data": {"type": "stores", "id": self.checkout.store_id}},
                              "variant": {"data": {"type": "variants", "id": variant}}},
        }}
        url = f"{self.checkout.api_base_url.rstrip('/')}/v1/checkouts"
        headers = {"Authorization": f"Bearer {self.checkout.api_key}", "Accept": "application/vnd.api+json",
                   "Content-Type": "application/vnd.api+json"}
        result = await call_provider(http, self.name, url, data=json.dumps(body), headers=headers)
        root = _obj(result)
        data = _obj(root.get("data")) if root else None
        attributes = _obj(data.get("attributes")) if data else None
        hosted = attributes.get("url") if attributes else None
        if not isinstance(hosted, str) or not hosted:
            raise CheckoutFailed("lemonsqueezy answer has no data.attributes.url")
        return hosted
