"""Lemon Squeezy one-time credit packs: webhook verification and decisions, attribution, checkout.

Exact scheme (reference/metering.md §5.5, §5.6): ``X-Signature`` is the lowercase hex HMAC-SHA256 of the
*raw body* under the webhook secret, verified in constant time before any JSON is parsed. The buyer is
identified by ``meta.custom_data.user_id``, which only counts with a valid ``uat`` =
``hex(HMAC(attribution secret, "credit-user:" + user_id))`` minted by our checkout (any configured secret
verifies, so secrets rotate). A paid order we recognise but cannot safely credit answers a retryable 500;
a genuinely foreign order is acknowledged with 200.
"""

from __future__ import annotations

import json
import logging
import math
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass
from typing import Any

import aiohttp

from localcore.metering.checkout import (
    INVALID_SIGNATURE,
    CheckoutFailed,
    CreditPack,
    WebhookResult,
    fixed_packs,
    header,
    hmac_hex,
    same_text,
)
from localcore.metering.payload import as_number as _number
from localcore.metering.payload import as_object as _obj
from localcore.metering.payload import as_text as _text
from localcore.metering.service import CreditsService
from localcore.metering.types import SAFE_INTEGER_MAX

log = logging.getLogger("localcore.credits.lemonsqueezy")
UserExists = Callable[[str], Awaitable[bool]]


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


@dataclass(frozen=True, slots=True)
class LemonSqueezyConfig:
    webhook_secret: str
    credit_micros_by_variant: dict[str, int]
    expected_test_mode: bool
    attribution_secrets: tuple[str, ...]
    expected_store_id: str | None = None
    credit_only_store: bool = True
    require_currency: str = "EUR"
    credit_micros_per_unit: int | None = 1_000_000
    checkout: LemonSqueezyCheckout | None = None
    creditable_events: tuple[str, ...] = ("order_created",)
    refund_events: tuple[str, ...] = ("order_refunded",)


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


def money_consistent(sub: float, disc: float, total: float, tax: float) -> bool:
    """Net paid cross-checked two ways (a discount cannot hide behind tax)."""
    return (sub >= 0 and disc >= 0 and total > 0 and math.isfinite(tax) and tax >= 0 and sub >= disc
            and total >= tax and (sub - disc) <= (total - tax) + 1)


def load_json(raw: bytes) -> object:
    """Strict JSON (no NaN/Infinity, valid UTF-8), as ``JSON.parse``; raises ``ValueError``."""
    def refuse(name: str) -> object:
        raise ValueError(name)
    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


class LemonSqueezyWebhook:
    """``POST /api/credits/webhooks/lemonsqueezy``: verify → parse → decide (§5.6) → grant or revoke."""

    def __init__(self, config: LemonSqueezyConfig, service: CreditsService, user_exists: UserExists) -> None:
        self.config = config
        self.service = service
        self.user_exists = user_exists
        self.require_currency = config.require_currency.upper()

    # Route predicates: strict = positively ours; lenient = nothing present contradicts us.
    def strict(self, order: LemonSqueezyOrder) -> bool:
        c = self.config
        return (order.currency is not None and order.currency.upper() == self.require_currency
                and order.test_mode is not None and order.test_mode == c.expected_test_mode
                and (c.expected_store_id is None or order.store_id == c.expected_store_id))

    def lenient(self, order: LemonSqueezyOrder) -> bool:
        c = self.config
        if order.currency is not None and order.currency.upper() != self.require_currency:
            return False
        if order.test_mode is not None and order.test_mode != c.expected_test_mode:
            return False
        return not (c.expected_store_id is not None and order.store_id is not None
                    and order.store_id != c.expected_store_id)

    def known_variant(self, order: LemonSqueezyOrder) -> bool:
        return order.variant_id is not None and order.variant_id in self.config.credit_micros_by_variant

    def is_credit_order(self, order: LemonSqueezyOrder) -> bool:
        return self.known_variant(order) and self.strict(order)

    def is_unverified_credit_order(self, order: LemonSqueezyOrder) -> bool:
        return self.known_variant(order) and not self.strict(order) and self.lenient(order)

    def is_our_store_order(self, order: LemonSqueezyOrder) -> bool:
        return self.config.credit_only_store and self.strict(order)

    def purchase_key(self, order_id: str) -> str:
        mode = "test" if self.config.expected_test_mode else "live"
        return f"ls:{self.config.expected_store_id or 'default'}:{mode}:{order_id}"

    async def handle(self, raw: bytes, headers: Mapping[str, str]) -> WebhookResult:
        if not verify_signature(raw, header(headers, "X-Signature"), self.config.webhook_secret):
            return INVALID_SIGNATURE
        try:
            payload = load_json(raw)
        except ValueError:
            return WebhookResult.fail(400, "invalid_json")
        order = parse_order(payload)
        if order is None:
            return WebhookResult.fail(400, "unparseable_order")
        if order.event_name in self.config.refund_events:
            return await self._refund(order)
        if order.event_name not in self.config.creditable_events:
            return WebhookResult.ok("ignored_event")
        return await self._purchase(order)

    async def _refund(self, order: LemonSqueezyOrder) -> WebhookResult:
        if not self.lenient(order):
            return WebhookResult.ok("refund_not_our_store", orderId=order.order_id)
        fraction = (order.refunded_amount / order.total
                    if order.refunded_amount > 0 and order.total is not None and order.total > 0 else None)
        revoked = await self.service.revoke_purchase(
            self.purchase_key(order.order_id), refund_fraction=fraction, allow_tombstone=self.lenient(order),
            expected_store_id=self.config.expected_store_id, expected_test_mode=self.config.expected_test_mode,
            expected_currency=self.require_currency)
        log.info("lemonsqueezy refund %s: revoked=%s", order.order_id, revoked)
        return WebhookResult.ok("refund_revoked" if revoked else "refund_noop", orderId=order.order_id)

    async def _purchase(self, order: LemonSqueezyOrder) -> WebhookResult:
        oid = order.order_id
        if order.status != "paid":
            looks_ours = (self.is_credit_order(order) or self.is_our_store_order(order)
                          or self.is_unverified_credit_order(order))
            if order.status is None and looks_ours:
                return WebhookResult.fail(500, "order_status_missing", orderId=oid)
            return WebhookResult.ok(f"order_status_{order.status or 'unknown'}", orderId=oid)
        if not self.is_credit_order(order):
            if self.is_unverified_credit_order(order):
                log.warning("lemonsqueezy order %s: known variant with incomplete identity", oid)
                return WebhookResult.fail(500, "unverified_credit_order", orderId=oid)
            if self.is_our_store_order(order):
                log.warning("lemonsqueezy order %s: unknown variant %s on a credit-only store", oid,
                            order.variant_id)
                return WebhookResult.fail(500, "unrecognized_credit_variant", orderId=oid)
            return WebhookResult.ok("not_a_credit_order", orderId=oid)
        if not verify_attribution(order.user_id, order.uat, self.config.attribution_secrets):
            log.warning("lemonsqueezy order %s: invalid or missing attribution token", oid)
            return WebhookResult.fail(500, "untrusted_attribution", orderId=oid)
        if order.user_id is None:
            return WebhookResult.fail(500, "missing_user_id", orderId=oid)
        if not await self.user_exists(order.user_id):
            return WebhookResult.ok("user_not_found", orderId=oid)
        assert order.variant_id is not None  # is_credit_order checked it
        amount = self.config.credit_micros_by_variant[order.variant_id] * max(1, order.quantity)
        if not 0 < amount <= SAFE_INTEGER_MAX:
            return WebhookResult.fail(500, "no_credit_amount", orderId=oid)
        if self.config.credit_micros_per_unit:
            sub, disc, total = order.subtotal, order.discount_total, order.total
            if sub is None or disc is None or total is None or not money_consistent(sub, disc, total, order.tax):
                return WebhookResult.fail(500, "invalid_money_fields", orderId=oid)
            one_cent = self.config.credit_micros_per_unit / 100
            if max(0, sub - disc) * one_cent + one_cent <= amount:
                log.warning("lemonsqueezy order %s underpaid for %s micros", oid, amount)
                return WebhookResult.fail(500, "underpaid_order", orderId=oid)
        created = await self.service.grant_purchase(
            order.user_id, self.purchase_key(oid), amount, store_id=order.store_id, test_mode=order.test_mode,
            currency=order.currency, variant_id=order.variant_id)
        return WebhookResult.ok(orderId=oid, created=created)


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
        if pack is None:
            return self.checkout.default_pack
        return pack if isinstance(pack, str) and pack in self.checkout.variants else None

    async def create_checkout(self, http: aiohttp.ClientSession | None, *, user_id: str, email: str | None,
                              pack_id: str) -> str:
        if http is None:
            raise CheckoutFailed("no HTTP client")
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
        try:
            async with http.post(url, data=json.dumps(body), headers=headers,
                                 timeout=aiohttp.ClientTimeout(total=15)) as response:
                if response.status >= 300:
                    raise CheckoutFailed(f"lemonsqueezy answered {response.status}")
                result = await response.json(content_type=None)
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            raise CheckoutFailed(f"lemonsqueezy request failed: {type(exc).__name__}") from exc
        root = _obj(result)
        data = _obj(root.get("data")) if root else None
        attributes = _obj(data.get("attributes")) if data else None
        hosted = attributes.get("url") if attributes else None
        if not isinstance(hosted, str) or not hosted:
            raise CheckoutFailed("lemonsqueezy answer has no data.attributes.url")
        return hosted
