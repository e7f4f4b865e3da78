"""What every payment provider's webhook shares: the answer, the signing helpers, and ``PaymentWebhook``,
the one flow both providers run.

The flow: verify the signature over the *raw body* (before any JSON is parsed) → parse strict JSON into
the provider's event → refund, ignore, or decide whether a paid order is ours and may be credited → grant
or revoke through ``CreditsService``. A provider supplies only what differs: its signature scheme, its
payload, which of its orders are ours, what an order is worth and how it is attributed to a buyer.

Answers (``WebhookResult``): 401 bad signature, 400 unparseable, 500 = "retry me" (an order we recognise
but cannot safely credit yet), 200 = done or deliberately ignored (a genuinely foreign order).
"""

from __future__ import annotations

import hashlib
import hmac
import json
import logging
from abc import ABC, abstractmethod
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass, field
from typing import Any, ClassVar, Generic, TypeVar

from localcore.contract.ledger import SAFE_INTEGER_MAX
from localcore.metering.service import CreditsService

UserExists = Callable[[str], Awaitable[bool]]
Event = TypeVar("Event")


@dataclass(frozen=True, slots=True)
class WebhookResult:
    """A webhook's answer: ``{ok, reason?, orderId?, created?}`` with the status the provider sees."""

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


def hmac_hex(secret: str, message: bytes | str) -> str:
    data = message.encode("utf-8") if isinstance(message, str) else message
    return hmac.new(secret.encode("utf-8"), data, hashlib.sha256).hexdigest()


def same_text(expected: str, given: str) -> bool:
    """Constant-time comparison of two strings as given (a length mismatch fails, case matters)."""
    return hmac.compare_digest(expected.encode("utf-8"), given.encode("utf-8", "surrogatepass"))


def header(headers: Mapping[str, str], name: str) -> str | None:
    value = headers.get(name)
    return value if value else None


def load_json(raw: bytes) -> object:
    """Strict JSON (no NaN/Infinity, valid UTF-8), as ``JSON.parse``; raises ``ValueError``."""
    def refuse(name: str) -> object:
        raise ValueError(name)
    return json.loads(raw.decode("utf-8"), parse_constant=refuse)


def net_paid_minor(subtotal: float | None, discount: float | None, total: float | None, tax: float | None,
                   *, allow_zero_total: bool) -> float | None:
    """Net pre-tax paid in minor units, or None when a figure is missing or they disagree: the net is
    cross-checked two ways, so a discount cannot hide behind tax."""
    if subtotal is None or discount is None or total is None or tax is None:
        return None
    if not (subtotal >= 0 and discount >= 0 and (total >= 0 if allow_zero_total else total > 0) and tax >= 0
            and subtotal >= discount and total >= tax and subtotal - discount <= total - tax + 1):
        return None
    return max(0, subtotal - discount)


@dataclass(frozen=True, slots=True, kw_only=True)
class WebhookConfig:
    """What every provider's webhook is configured with."""

    webhook_secret: str
    expected_test_mode: bool
    attribution_secrets: tuple[str, ...]  # current first; any verifies, so secrets rotate
    require_currency: str = "EUR"
    credit_only_store: bool = True  # every order of our store/account is a credit order
    credit_micros_per_unit: int | None = 1_000_000  # None: no underpayment check


@dataclass(frozen=True, slots=True)
class PurchaseIdentity:
    """The provider's identity of an order, recorded with the purchase and required on every replay."""

    store_id: str | None
    test_mode: bool | None
    currency: str | None
    variant_id: str | None


class PaymentWebhook(ABC, Generic[Event]):
    """``POST /api/credits/webhooks/<name>``: the shared flow; subclasses implement the hooks below."""

    name: ClassVar[str]  # in logs
    order_noun: ClassVar[str]  # what the provider calls a paid order, in logs
    item_noun: ClassVar[str]  # what the provider calls the product bought: "variant", "pack"
    status_reason: ClassVar[str]  # "<status_reason>_<status>" answers an order that is not paid
    unparseable_reason: ClassVar[str]
    missing_id_reason: ClassVar[str]  # a paid, attributed order without the id its purchase is keyed by
    creditable_events: ClassVar[tuple[str, ...]]
    refund_events: ClassVar[tuple[str, ...]]

    def __init__(self, config: WebhookConfig, service: CreditsService, user_exists: UserExists) -> None:
        self.service = service
        self.user_exists = user_exists
        self.log = logging.getLogger(f"localcore.credits.{self.name}")
        self.currency = config.require_currency.upper()
        self.expected_test_mode = config.expected_test_mode
        self.credit_only_store = config.credit_only_store
        self.credit_micros_per_unit = config.credit_micros_per_unit
        self.expected_store_id: str | None = None  # a refund must not revoke an order of another store

    # ------------------------------------------------------------------ what a provider supplies

    @abstractmethod
    def verify(self, raw: bytes, headers: Mapping[str, str]) -> bool:
        """The signature over the raw body is valid."""

    @abstractmethod
    def parse(self, payload: object) -> Event | None:
        """The event, or None when the payload is not one."""

    @abstractmethod
    def event_type(self, event: Event) -> str: ...

    @abstractmethod
    def order_id(self, event: Event) -> str | None:
        """The id the purchase is keyed by (``purchase_key``) and answered as ``orderId``."""

    @abstractmethod
    def purchase_key(self, order_id: str) -> str:
        """The ledger's purchase key: namespaced, so two stores or modes never share an order."""

    @abstractmethod
    def lenient(self, event: Event) -> bool:
        """Nothing present contradicts that the event is from our store/account and mode."""

    @abstractmethod
    def is_credit_order(self, event: Event) -> bool:
        """A known product, positively from our store/account and mode: creditable."""

    @abstractmethod
    def is_unverified_credit_order(self, event: Event) -> bool:
        """A known product whose origin is incomplete: ours, but not yet safe to credit."""

    @abstractmethod
    def is_our_store_order(self, event: Event) -> bool:
        """An order of our credit-only store/account: an unknown product there is a configuration gap."""

    @abstractmethod
    def payment_status(self, event: Event) -> str | None: ...

    @abstractmethod
    def attributed(self, event: Event) -> bool:
        """The buyer's id carries a valid attribution token minted by our checkout."""

    @abstractmethod
    def buyer(self, event: Event) -> str | None: ...

    @abstractmethod
    def credit_micros(self, event: Event) -> int:
        """What the order is worth (0: nothing we can credit)."""

    @abstractmethod
    def net_paid_minor(self, event: Event) -> float | None:
        """Net pre-tax paid in minor units, or None when the money fields are missing or disagree."""

    @abstractmethod
    def identity(self, event: Event) -> PurchaseIdentity: ...

    @abstractmethod
    def refund_fraction(self, event: Event) -> float | None:
        """The cumulative refunded share (None: all of it)."""

    def missing_id_reference(self, event: Event) -> str | None:
        """What to answer as ``orderId`` when ``order_id`` is missing."""
        return None

    # ------------------------------------------------------------------ the flow

    async def handle(self, raw: bytes, headers: Mapping[str, str]) -> WebhookResult:
        if not self.verify(raw, headers):
            return INVALID_SIGNATURE
        try:
            payload = load_json(raw)
        except ValueError:
            return WebhookResult.fail(400, "invalid_json")
        event = self.parse(payload)
        if event is None:
            return WebhookResult.fail(400, self.unparseable_reason)
        if self.event_type(event) in self.refund_events:
            return await self._refund(event)
        if self.event_type(event) not in self.creditable_events:
            return WebhookResult.ok("ignored_event")
        return await self._purchase(event)

    async def _refund(self, event: Event) -> WebhookResult:
        oid = self.order_id(event)
        if not self.lenient(event):
            return WebhookResult.ok("refund_not_our_store", orderId=oid)
        if oid is None:
            self.log.warning("%s %s for our store has no order id", self.name, self.event_type(event))
            return WebhookResult.fail(500, "refund_unmappable")
        # The refund may arrive before its purchase: a tombstone then nets it at the grant.
        revoked = await self.service.revoke_purchase(
            self.purchase_key(oid), refund_fraction=self.refund_fraction(event), allow_tombstone=True,
            expected_store_id=self.expected_store_id, expected_test_mode=self.expected_test_mode,
            expected_currency=self.currency)
        self.log.info("%s %s %s: revoked=%s", self.name, self.event_type(event), oid, revoked)
        return WebhookResult.ok("refund_revoked" if revoked else "refund_noop", orderId=oid)

    async def _purchase(self, event: Event) -> WebhookResult:
        oid, status = self.order_id(event), self.payment_status(event)
        if status != "paid":
            looks_ours = (self.is_credit_order(event) or self.is_our_store_order(event)
                          or self.is_unverified_credit_order(event))
            if status is None and looks_ours:
                return WebhookResult.fail(500, f"{self.status_reason}_missing", orderId=oid)
            return WebhookResult.ok(f"{self.status_reason}_{status or 'unknown'}", orderId=oid)
        if not self.is_credit_order(event):
            if self.is_unverified_credit_order(event):
                self.log.warning("%s %s %s: known %s with incomplete identity", self.name, self.order_noun, oid,
                            self.item_noun)
                return WebhookResult.fail(500, "unverified_credit_order", orderId=oid)
            if self.is_our_store_order(event):
                self.log.warning("%s %s %s: unknown %s on a credit-only store", self.name, self.order_noun, oid,
                            self.item_noun)
                return WebhookResult.fail(500, f"unrecognized_credit_{self.item_noun}", orderId=oid)
            return WebhookResult.ok("not_a_credit_order", orderId=oid)
        if not self.attributed(event):
            self.log.warning("%s %s %s: invalid or missing attribution token", self.name, self.order_noun, oid)
            return WebhookResult.fail(500, "untrusted_attribution", orderId=oid)
        if oid is None:
            return WebhookResult.fail(500, self.missing_id_reason, orderId=self.missing_id_reference(event))
        buyer = self.buyer(event)
        if buyer is None:
            return WebhookResult.fail(500, "missing_user_id", orderId=oid)
        if not await self.user_exists(buyer):
            return WebhookResult.ok("user_not_found", orderId=oid)
        amount = self.credit_micros(event)
        if not 0 < amount <= SAFE_INTEGER_MAX:
            return WebhookResult.fail(500, "no_credit_amount", orderId=oid)
        if self.credit_micros_per_unit:
            net = self.net_paid_minor(event)
            if net is None:
                return WebhookResult.fail(500, "invalid_money_fields", orderId=oid)
            one_minor = self.credit_micros_per_unit / 100
            if net * one_minor + one_minor <= amount:  # paid less than the credits are worth (one unit of slack)
                self.log.warning("%s %s %s underpaid for %s micros", self.name, self.order_noun, oid, amount)
                return WebhookResult.fail(500, "underpaid_order", orderId=oid)
        identity = self.identity(event)
        created = await self.service.grant_purchase(
            buyer, self.purchase_key(oid), amount, store_id=identity.store_id, test_mode=identity.test_mode,
            currency=identity.currency, variant_id=identity.variant_id)
        return WebhookResult.ok(orderId=oid, created=created)
