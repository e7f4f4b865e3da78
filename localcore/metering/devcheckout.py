"""The offline ``dev`` checkout: buy and refund credits on a local server with no payment provider.

Active when no provider is configured and mail goes to the console (a developer's machine), or when
``BORING_CREDITS_DEV_CHECKOUT=on`` outside production. Its checkout URL is the shell page
``/credits/dev-checkout?checkout=<id>``. Paying there builds a Stripe-shaped ``checkout.session.completed``
event, signs it with this process's dev webhook secret exactly as Stripe signs (``t=…,v1=…``) and hands the
raw body and header to the *same* ``StripeWebhook.handle`` the real route uses — so signature checks,
attribution, the decision table and the ledger grant all run offline. Refunding sends ``charge.refunded``
the same way.

Checkouts are kept in the backend as one-time-token rows (kind ``dev-checkout``), not in process memory:
several processes sharing one database (and a restart) still find them, and deleting the user deletes
them. A checkout row is immutable; its status is recorded by two marker rows (``dev-checkout-paid``,
``dev-checkout-refunded``) written after the webhook accepted the event, so no row is ever updated.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import Any, Literal

import aiohttp

from localcore.contract.clock import Clock
from localcore.contract.errors import StoreError
from localcore.contract.sessions import TokenStore
from localcore.errors import CreditsError
from localcore.metering.checkout import CheckoutFailed, CreditPack, fixed_packs, resolve_pack
from localcore.metering.stripe import StripeWebhook, sign_attribution, sign_payload
from localcore.metering.webhooks import WebhookResult

CHECKOUT_KIND = "dev-checkout"
PAID_KIND = "dev-checkout-paid"
REFUNDED_KIND = "dev-checkout-refunded"
CHECKOUT_TTL = timedelta(days=7)
Status = Literal["open", "paid", "refunded"]


def dev_webhook_secret() -> str:
    """A fresh per-process signing secret: nobody outside this process can forge a dev event."""
    return "whsec_dev_" + secrets.token_hex(24)


@dataclass(frozen=True, slots=True)
class DevCheckoutRecord:
    id: str
    user_id: str
    pack: str
    amount_micros: int
    price_minor: int
    currency: str
    label: str
    status: Status

    def to_json(self) -> dict[str, Any]:
        return {"id": self.id, "pack": self.pack, "amountMicros": self.amount_micros, "price": self.label,
                "priceMinor": self.price_minor, "currency": self.currency, "status": self.status}


def _hash(checkout_id: str) -> str:
    return hashlib.sha256(checkout_id.encode()).hexdigest()


class DevCheckoutProvider:
    name = "dev"

    def __init__(self, *, tokens: TokenStore, webhook: StripeWebhook, pack_ids: tuple[str, ...], currency: str,
                 base_url: str, attribution_secret: str, clock: Clock) -> None:
        self.tokens = tokens
        self.webhook = webhook
        self.currency = currency.upper()
        self._packs = fixed_packs(list(pack_ids), pack_ids[0] if pack_ids else None, self.currency)
        self.base_url = base_url.rstrip("/")
        self.attribution_secret = attribution_secret
        self.clock = clock

    def packs(self) -> list[CreditPack]:
        return list(self._packs)

    def resolve_pack(self, pack: object) -> str | None:
        default = next((p.id for p in self._packs if p.is_default), None)
        return resolve_pack(pack, default, {p.id for p in self._packs})

    async def create_checkout(self, http: aiohttp.ClientSession | None, *, user_id: str, email: str | None,
                              pack_id: str) -> str:
        pack = next((p for p in self._packs if p.id == pack_id), None)
        if pack is None:
            raise CheckoutFailed(f"unknown dev pack {pack_id!r}")
        checkout_id = secrets.token_hex(12)
        await self.tokens.put_token(
            kind=CHECKOUT_KIND, token_hash=_hash(checkout_id), expires_at=self.clock() + CHECKOUT_TTL,
            data={"id": checkout_id, "userId": user_id, "pack": pack.id, "amountMicros": pack.credit_micros,
                  "priceMinor": pack.price_minor, "currency": pack.currency, "label": pack.label})
        return f"{self.base_url}/credits/dev-checkout?checkout={checkout_id}"

    async def get(self, checkout_id: str, user_id: str) -> DevCheckoutRecord:
        """The caller's checkout; 404 for an unknown, expired or foreign one (no existence oracle)."""
        token = await self.tokens.get_token(CHECKOUT_KIND, _hash(checkout_id))
        if token is None or token.data.get("userId") != user_id or token.expires_at <= self.clock():
            raise CreditsError(404, "not_found", "checkout not found")
        status: Status = "open"
        if await self.tokens.get_token(REFUNDED_KIND, _hash(checkout_id)) is not None:
            status = "refunded"
        elif await self.tokens.get_token(PAID_KIND, _hash(checkout_id)) is not None:
            status = "paid"
        d = token.data
        return DevCheckoutRecord(str(d["id"]), user_id, str(d["pack"]), int(d["amountMicros"]),
                                 int(d["priceMinor"]), str(d["currency"]), str(d["label"]), status)

    async def complete(self, checkout_id: str, user_id: str) -> tuple[DevCheckoutRecord, WebhookResult]:
        checkout = await self.get(checkout_id, user_id)
        if checkout.status != "open":
            raise CreditsError(409, "checkout_not_open", f"checkout is already {checkout.status}")
        event = {
            "id": f"evt_dev_{secrets.token_hex(8)}", "object": "event", "type": "checkout.session.completed",
            "livemode": False, "created": int(self.clock().timestamp()),
            "data": {"object": {
                "id": f"cs_dev_{checkout.id}", "object": "checkout.session", "mode": "payment",
                "payment_intent": self._payment_intent(checkout), "payment_status": "paid", "status": "complete",
                "livemode": False, "currency": checkout.currency.lower(), "client_reference_id": user_id,
                "amount_subtotal": checkout.price_minor, "amount_total": checkout.price_minor,
                "total_details": {"amount_discount": 0, "amount_tax": 0, "amount_shipping": 0},
                "metadata": {"user_id": user_id, "pack_id": checkout.pack,
                             "uat": sign_attribution(user_id, checkout.pack, self.attribution_secret)},
            }},
        }
        result = await self._deliver(event)
        await self._mark(PAID_KIND, checkout, result, accepted="created" in result.body)
        return await self.get(checkout_id, user_id), result

    async def refund(self, checkout_id: str, user_id: str) -> tuple[DevCheckoutRecord, WebhookResult]:
        checkout = await self.get(checkout_id, user_id)
        if checkout.status != "paid":
            raise CreditsError(409, "checkout_not_paid", f"checkout is {checkout.status}, not paid")
        event = {
            "id": f"evt_dev_{secrets.token_hex(8)}", "object": "event", "type": "charge.refunded",
            "livemode": False, "created": int(self.clock().timestamp()),
            "data": {"object": {
                "id": f"ch_dev_{checkout.id}", "object": "charge", "payment_intent": self._payment_intent(checkout),
                "livemode": False, "currency": checkout.currency.lower(), "amount": checkout.price_minor,
                "amount_refunded": checkout.price_minor, "refunded": True,
            }},
        }
        result = await self._deliver(event)
        accepted = result.body.get("reason") in ("refund_revoked", "refund_noop")
        await self._mark(REFUNDED_KIND, checkout, result, accepted=accepted)
        return await self.get(checkout_id, user_id), result

    @staticmethod
    def _payment_intent(checkout: DevCheckoutRecord) -> str:
        return f"pi_dev_{checkout.id}"

    async def _deliver(self, event: dict[str, Any]) -> WebhookResult:
        """Sign like Stripe and run the real webhook handler on the raw bytes."""
        raw = json.dumps(event, separators=(",", ":")).encode()
        signature = sign_payload(raw, self.webhook.config.webhook_secret, int(self.clock().timestamp()))
        return await self.webhook.handle(raw, {"Stripe-Signature": signature, "Content-Type": "application/json"})

    async def _mark(self, kind: str, checkout: DevCheckoutRecord, result: WebhookResult, *,
                    accepted: bool) -> None:
        """Record the new status only once the real webhook accepted the event."""
        if result.status != 200 or not accepted:
            raise CreditsError(502, "webhook_rejected",
                               f"the webhook rejected the event ({result.body.get('reason', result.status)})",
                               extra={"webhook": {"status": result.status, **result.body}})
        # A concurrent click may have recorded it already; the ledger grant itself is idempotent.
        with contextlib.suppress(StoreError):
            await self.tokens.put_token(kind=kind, token_hash=_hash(checkout.id), data={"userId": checkout.user_id},
                                        expires_at=self.clock() + CHECKOUT_TTL)
