"""HTTP for credits: read the request through ``models``, make one call to the feature, answer through
``models``. Errors use the credits family's envelope ``{error: {code, message}}``; each route checks the
session itself, as upstream.

- ``GET /api/credits/balance``: the shaped balance (lazily granting the signup credits), ``checkoutEnabled``
  and, when checkout is wired, the packs.
- ``GET /api/credits/history?limit=N``: display-safe ledger entries.
- ``POST /api/credits/checkout``: ``{pack?}`` → ``{url}`` (400 ``invalid_pack``, 502 ``checkout_failed``).
- ``POST /api/credits/webhooks/lemonsqueezy`` | ``/stripe``: the raw body goes to the provider's webhook,
  which verifies the signature before any JSON is parsed.
- ``/api/credits/dev/checkouts/{id}`` (+ ``/complete``, ``/refund``): the offline checkout (``devcheckout``).
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp import web
from pydantic import BaseModel

from localcore.contract.clock import iso
from localcore.errors import CreditsError
from localcore.http.families import ROUTE_FAMILIES, RouteFamily
from localcore.http.identity import current_user
from localcore.http.openapi import Answer, RawBody, RouteCatalog
from localcore.http.validation import parse_query, read_json
from localcore.metering import models as m
from localcore.metering.checkout import CheckoutFailed
from localcore.metering.devcheckout import DevCheckoutProvider, DevCheckoutRecord
from localcore.metering.feature import CREDITS, CreditsFeature
from localcore.metering.webhooks import PaymentWebhook, WebhookResult
from localcore.store import User

log = logging.getLogger("localcore.credits")
TAG = "credits"
#: The credits API answers errors as ``{error: {code, message}}`` (upstream's shape for these routes).
CREDITS_FAMILY = RouteFamily("credits", "/api/credits/", envelope="nested")
Handler = Callable[[web.Request], Awaitable[web.Response]]


def json_out(model: BaseModel, *, status: int = 200) -> web.Response:
    return web.json_response(m.dump(model), status=status)


async def _user(request: web.Request) -> User:
    user = await current_user(request)
    if user is None:
        raise CreditsError(401, "unauthorized", "authentication required")
    return user


async def balance(request: web.Request) -> web.Response:
    user = await _user(request)
    feature = request.app[CREDITS]
    shaped = await feature.service.get_balance(user.id)
    # ``m.BalanceResponse``'s shape, built directly: a hot read route does no model validation per request
    # (the OpenAPI conformance run checks the shape against the model).
    body = shaped.to_json()
    body["checkoutEnabled"] = feature.checkout is not None
    packs = feature.checkout.packs() if feature.checkout is not None else []
    if packs:
        body["packs"] = [p.to_json() for p in packs]
    return web.json_response(body)


async def history(request: web.Request) -> web.Response:
    user = await _user(request)
    query = parse_query(request, m.HistoryQuery)
    entries = await request.app[CREDITS].service.list_ledger(user.id, query.entries)
    return json_out(m.HistoryResponse(entries=[
        m.LedgerEntryOut(id=e.id, kind=e.kind, amountMicros=e.amount_micros, createdAt=iso(e.created_at) or "",
                         description=e.description) for e in entries]))


async def checkout(request: web.Request) -> web.Response:
    user = await _user(request)
    feature = request.app[CREDITS]
    provider = feature.checkout
    assert provider is not None  # the route exists only with a provider
    body = m.CheckoutBody.read(await read_json(request, allow_empty=True))
    pack_id = provider.resolve_pack(body.pack)
    if pack_id is None:
        raise CreditsError(400, *m.INVALID_PACK)
    try:
        url = await provider.create_checkout(feature.http, user_id=user.id, email=user.email or None,
                                             pack_id=pack_id)
    except CheckoutFailed as exc:
        log.warning("credits: %s checkout failed: %s", provider.name, exc)
        raise CreditsError(502, "checkout_failed", "could not create checkout") from exc
    return json_out(m.CheckoutResponse(url=url))


def webhook_route(webhook: PaymentWebhook[Any]) -> Handler:
    """The provider's webhook over the raw body (its signature is over the bytes as sent)."""
    async def handle(request: web.Request) -> web.Response:
        result = await webhook.handle(await request.read(), request.headers)
        return json_out(m.WebhookResponse.model_validate(result.body), status=result.status)
    return handle


def _dev(request: web.Request) -> DevCheckoutProvider:
    dev = request.app[CREDITS].dev
    assert dev is not None  # the routes exist only with the offline checkout
    return dev


def _dev_out(record: DevCheckoutRecord, result: WebhookResult | None = None) -> web.Response:
    webhook = None if result is None else {"status": result.status, **result.body}
    return json_out(m.DevCheckoutResponse.model_validate({**record.to_json(), "webhook": webhook}))


async def dev_checkout_show(request: web.Request) -> web.Response:
    user = await _user(request)
    return _dev_out(await _dev(request).get(request.match_info["checkout_id"], user.id))


async def dev_checkout_complete(request: web.Request) -> web.Response:
    user = await _user(request)
    return _dev_out(*await _dev(request).complete(request.match_info["checkout_id"], user.id))


async def dev_checkout_refund(request: web.Request) -> web.Response:
    user = await _user(request)
    return _dev_out(*await _dev(request).refund(request.match_info["checkout_id"], user.id))


def setup_credit_routes(app: web.Application, catalog: RouteCatalog, feature: CreditsFeature) -> None:
    """Declare the credits route family and register the routes the feature's providers need."""
    app[ROUTE_FAMILIES].add(CREDITS_FAMILY)
    router = app.router
    catalog.add(router, "GET", "/api/credits/balance", balance, summary="Credit balance, checkout packs", tag=TAG,
                response=m.BalanceResponse, auth=True)
    catalog.add(router, "GET", "/api/credits/history", history, summary="Recent credit activity", tag=TAG,
                query=m.HistoryQuery, response=m.HistoryResponse, auth=True)
    if feature.checkout is not None:
        catalog.add(router, "POST", "/api/credits/checkout", checkout, summary="Start a hosted checkout",
                    tag=TAG, body=m.CheckoutBody, response=m.CheckoutResponse, auth=True,
                    raises=[CreditsError(400, *m.INVALID_PACK),
                            CreditsError(502, "checkout_failed", "could not create checkout")])
    refused = {400: Answer("invalid_json, or a payload that is not an event (ok: false, reason)",
                           model=m.WebhookResponse),
               401: Answer("invalid_signature", model=m.WebhookResponse),
               500: Answer("An event that cannot be credited yet: the provider retries (ok: false, reason)",
                           model=m.WebhookResponse)}
    if feature.lemonsqueezy is not None:
        catalog.add(router, "POST", "/api/credits/webhooks/lemonsqueezy", webhook_route(feature.lemonsqueezy),
                    summary="Lemon Squeezy order webhook (X-Signature over the raw body)", tag=TAG,
                    body=RawBody("The provider's event; the signature is checked before it is parsed"),
                    response=m.WebhookResponse, responses=refused)
    if feature.stripe is not None:
        catalog.add(router, "POST", "/api/credits/webhooks/stripe", webhook_route(feature.stripe),
                    summary="Stripe checkout/refund webhook (Stripe-Signature t=…,v1=…)", tag=TAG,
                    body=RawBody("The provider's event; the signature is checked before it is parsed"),
                    response=m.WebhookResponse, responses=refused)
    if feature.dev is not None:
        base = "/api/credits/dev/checkouts/{checkout_id}"
        not_found = CreditsError(404, "not_found", "checkout not found")
        rejected = CreditsError(502, "webhook_rejected", "the webhook rejected the event (underpaid_order)",
                                extra={"webhook": {"status": 500, "ok": False, "reason": "underpaid_order"}})
        catalog.add(router, "GET", base, dev_checkout_show, summary="An offline dev checkout", tag=TAG,
                    response=m.DevCheckoutResponse, auth=True, raises=[not_found])
        catalog.add(router, "POST", f"{base}/complete", dev_checkout_complete, tag=TAG, auth=True,
                    summary="Pay an offline dev checkout (delivers a signed webhook in-process)",
                    response=m.DevCheckoutResponse,
                    raises=[not_found, CreditsError(409, "checkout_not_open", "checkout is already paid"), rejected])
        catalog.add(router, "POST", f"{base}/refund", dev_checkout_refund, tag=TAG, auth=True,
                    summary="Refund an offline dev checkout (delivers a signed refund webhook in-process)",
                    response=m.DevCheckoutResponse,
                    raises=[not_found, CreditsError(409, "checkout_not_paid", "checkout is open, not paid"), rejected])
