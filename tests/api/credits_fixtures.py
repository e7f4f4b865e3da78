"""Shared set-up for the credits API tests: a real app over a real backend, real users, and signing
helpers written independently of ``localcore.metering`` (plain ``hmac``), so a wrong scheme in the code
cannot be mirrored by the tests.

Requests are authenticated with a test session resolver (``x-test-user: <user id>``) that looks the user
up in the backend, so the credits routes see exactly what a signed-in request gives them.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any

from aiohttp import web
from aiohttp.test_utils import TestClient

from localcore import create_app, load_config
from localcore.clock import ManualClock
from localcore.http.identity import SESSION_RESOLVER, Identity
from localcore.store import Backend, Session, User

BASE_ENV = {
    "LOCALCORE_ENV": "test", "BETTER_AUTH_SECRET": "x" * 64, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64,
    "MAIL_FROM": "Test <test@example.com>", "MAIL_TRANSPORT_URL": "console://", "BETTER_AUTH_URL": "http://127.0.0.1",
    "TRUSTED_HOSTS": "*", "LOCALCORE_RATE_LIMITS": "off",
    "BORING_CREDITS_SWEEP_INTERVAL_SECONDS": "0",
}
WEBHOOK_SECRET = "whsec_test"
ATTRIBUTION_SECRET = "attr"
PREVIOUS_ATTRIBUTION_SECRET = "attr-old"
LS_STORE = "12345"
LS_ENV = {
    "BORING_CREDITS_LS_WEBHOOK_SECRET": WEBHOOK_SECRET, "BORING_CREDITS_LS_API_KEY": "ls-key",
    "BORING_CREDITS_LS_STORE_ID": LS_STORE, "BORING_CREDITS_LS_TEST_MODE": "1",
    "BORING_CREDITS_LS_VARIANTS": "10:912340,15:912341,5:912342,9:912343",
    "BORING_CREDITS_LS_DEFAULT_PACK": "10",
    "BORING_CREDITS_ATTRIBUTION_SECRET": ATTRIBUTION_SECRET,
    "BORING_CREDITS_ATTRIBUTION_SECRET_PREVIOUS": PREVIOUS_ATTRIBUTION_SECRET,
}
STRIPE_ENV = {
    "BORING_CREDITS_STRIPE_WEBHOOK_SECRET": WEBHOOK_SECRET, "BORING_CREDITS_STRIPE_SECRET_KEY": "sk_test_1",
    "BORING_CREDITS_STRIPE_PRICES": "10:price_ten,25:price_twentyfive", "BORING_CREDITS_STRIPE_TEST_MODE": "1",
    "BORING_CREDITS_STRIPE_REDIRECT_URL": "http://127.0.0.1/credits",
    "BORING_CREDITS_STRIPE_CUSTOM_PRICE_ID": "price_custom", "BORING_CREDITS_STRIPE_CUSTOM_MIN_EUR": "5",
    "BORING_CREDITS_ATTRIBUTION_SECRET": ATTRIBUTION_SECRET,
    "BORING_CREDITS_ATTRIBUTION_SECRET_PREVIOUS": PREVIOUS_ATTRIBUTION_SECRET,
}

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def ls_signature(raw: bytes, secret: str = WEBHOOK_SECRET) -> str:
    return hmac.new(secret.encode(), raw, hashlib.sha256).hexdigest()


def stripe_signature(raw: bytes, timestamp: int, secret: str = WEBHOOK_SECRET) -> str:
    digest = hmac.new(secret.encode(), f"{timestamp}.".encode() + raw, hashlib.sha256).hexdigest()
    return f"t={timestamp},v1={digest}"


def ls_uat(user_id: str, secret: str = ATTRIBUTION_SECRET) -> str:
    return hmac.new(secret.encode(), f"credit-user:{user_id}".encode(), hashlib.sha256).hexdigest()


def stripe_uat(user_id: str, pack_id: str, secret: str = ATTRIBUTION_SECRET) -> str:
    return hmac.new(secret.encode(), f"credit:{user_id}:{pack_id}".encode(), hashlib.sha256).hexdigest()


def _test_resolver(backend: Backend) -> Callable[[web.Request], Awaitable[Identity | None]]:
    async def resolve(request: web.Request) -> Identity | None:
        user_id = request.headers.get("x-test-user")
        user = await backend.users.get_user(user_id) if user_id else None
        if user is None:
            return None
        session = Session(id="test-session", token_hash="0" * 64, user_id=user.id, expires_at=user.created_at,
                          created_at=user.created_at, updated_at=user.created_at, ip_address=None, user_agent=None)
        return Identity(user=user, session=session, token_hash="0" * 64)

    return resolve


@dataclass
class Credits:
    """One running app plus helpers that speak its wire format."""

    client: TestClient[Any, Any]
    backend: Backend
    clock: ManualClock
    app: web.Application

    async def user(self, email: str = "buyer@example.com") -> User:
        return await self.backend.users.create_user(email=email, name=email.split("@")[0])

    async def get(self, path: str, user: User | None = None) -> tuple[int, Any]:
        response = await self.client.get(path, headers=_auth(user))
        return response.status, await response.json()

    async def post(self, path: str, body: Any = None, user: User | None = None) -> tuple[int, Any]:
        response = await self.client.post(path, json=body if body is not None else {}, headers=_auth(user))
        return response.status, await response.json()

    async def webhook(self, provider: str, raw: bytes, headers: dict[str, str]) -> tuple[int, Any]:
        response = await self.client.post(f"/api/credits/webhooks/{provider}", data=raw,
                                          headers={"Content-Type": "application/json", **headers})
        return response.status, await response.json()

    async def ls(self, payload: dict[str, Any] | bytes, *, secret: str = WEBHOOK_SECRET) -> tuple[int, Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        return await self.webhook("lemonsqueezy", raw, {"X-Signature": ls_signature(raw, secret)})

    async def stripe(self, payload: dict[str, Any] | bytes, *, at: int | None = None,
                     secret: str = WEBHOOK_SECRET) -> tuple[int, Any]:
        raw = payload if isinstance(payload, bytes) else json.dumps(payload).encode()
        timestamp = int(self.clock().timestamp()) if at is None else at
        return await self.webhook("stripe", raw, {"Stripe-Signature": stripe_signature(raw, timestamp, secret)})

    async def remaining(self, user: User) -> int:
        return (await self.backend.metering.get_balance(user.id)).remaining_micros


def _auth(user: User | None) -> dict[str, str]:
    return {"x-test-user": user.id} if user is not None else {}


async def start(aiohttp_client: ClientFactory, backend: Backend, clock: ManualClock, **env: str) -> Credits:
    """A running app with ``BASE_ENV`` plus ``env`` (``BORING_CREDITS_*`` keys)."""
    app = create_app(load_config(env={**BASE_ENV, **env}), backend, clock=clock)
    app[SESSION_RESOLVER] = _test_resolver(backend)
    client = await aiohttp_client(app)
    return Credits(client, backend, clock, app)


def ls_order(user: User | None, *, event: str = "order_created", order_id: str = "ord-1", variant: object = 912340,
             status: object = "paid", test_mode: object = True, store_id: object = int(LS_STORE),
             currency: object = "EUR", subtotal: object = 1000, discount: object = 0, total: object = 1000,
             tax: object = 0, refunded_amount: object = None, quantity: object = 1,
             uat: str | None = "valid", drop: tuple[str, ...] = ()) -> dict[str, Any]:
    """A Lemon Squeezy order webhook payload (defaults: a paid 10-credit test order on our store)."""
    custom: dict[str, Any] = {}
    if user is not None:
        custom["user_id"] = user.id
        if uat == "valid":
            custom["uat"] = ls_uat(user.id)
        elif uat is not None:
            custom["uat"] = uat
    attributes: dict[str, Any] = {
        "status": status, "test_mode": test_mode, "store_id": store_id, "currency": currency,
        "subtotal": subtotal, "discount_total": discount, "total": total, "tax": tax,
        "first_order_item": {"variant_id": variant, "quantity": quantity},
    }
    if refunded_amount is not None:
        attributes["refunded_amount"] = refunded_amount
    for key in drop:
        attributes.pop(key, None)
    return {"meta": {"event_name": event, "custom_data": custom},
            "data": {"type": "orders", "id": order_id, "attributes": attributes}}


def stripe_session(user: User | None, *, pack: str | None = "10", event: str = "checkout.session.completed",
                   payment_intent: str | None = "pi_1", payment_status: object = "paid", livemode: object = False,
                   currency: object = "eur", subtotal: object = 1000, total: object = 1000, discount: object = 0,
                   tax: object = 0, uat: str | None = "valid", totals: object = "default") -> dict[str, Any]:
    """A Stripe checkout-session event (defaults: a paid 10-credit test session)."""
    metadata: dict[str, Any] = {}
    if user is not None:
        metadata["user_id"] = user.id
    if pack is not None:
        metadata["pack_id"] = pack
    if uat == "valid" and user is not None and pack is not None:
        metadata["uat"] = stripe_uat(user.id, pack)
    elif uat not in (None, "valid"):
        metadata["uat"] = uat
    session: dict[str, Any] = {
        "id": "cs_1", "object": "checkout.session", "payment_intent": payment_intent,
        "payment_status": payment_status, "livemode": livemode, "currency": currency,
        "amount_subtotal": subtotal, "amount_total": total, "metadata": metadata,
        "total_details": {"amount_discount": discount, "amount_tax": tax} if totals == "default" else totals,
    }
    return {"id": "evt_1", "type": event, "data": {"object": session}}


def stripe_charge(*, event: str = "charge.refunded", payment_intent: str | None = "pi_1", amount: object = 1000,
                  amount_refunded: object = 1000, livemode: object = False,
                  currency: object = "eur") -> dict[str, Any]:
    charge = {"id": "ch_1", "object": "charge", "payment_intent": payment_intent, "amount": amount,
              "amount_refunded": amount_refunded, "livemode": livemode, "currency": currency}
    return {"id": "evt_2", "type": event, "data": {"object": charge}}
