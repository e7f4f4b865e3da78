"""The credits HTTP API (reference/metering.md §5) and the feature's wiring: ``setup_credits(app, catalog)``.

Routes (envelope ``{error: {code, message}}``; each route checks the session itself, as upstream):
- ``GET /api/credits/balance``: the shaped balance (lazily granting the signup credits), ``checkoutEnabled``
  and, when checkout is wired, the packs.
- ``GET /api/credits/history?limit=N``: display-safe ledger entries (``parseInt`` semantics, 1..50, 20).
- ``POST /api/credits/checkout``: ``{pack?}`` → ``{url}`` (400 ``invalid_pack``, 502 ``checkout_failed``).
- ``POST /api/credits/webhooks/lemonsqueezy`` | ``/stripe``: the raw body goes to the provider module,
  which verifies the signature before any JSON is parsed.
- ``/api/credits/dev/checkouts/{id}`` (+ ``/complete``, ``/refund``): the offline checkout (``devcheckout``).

Start-up validation: every settings problem is raised at once as ``ConfigError`` from here, because
``create_app`` runs at start-up.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web
from pydantic import BaseModel, ConfigDict

from localcore.appkeys import BACKEND, CAPABILITIES, CLOCK, CONFIG, MAILER
from localcore.config import Config
from localcore.errors import ConfigError, CreditsError
from localcore.http.identity import current_user
from localcore.http.openapi import RouteCatalog
from localcore.http.validation import read_json
from localcore.metering.checkout import CheckoutFailed, CheckoutProvider, attribution_secrets
from localcore.metering.devcheckout import DevCheckoutProvider, dev_webhook_secret
from localcore.metering.lemonsqueezy import (
    LemonSqueezyCheckout,
    LemonSqueezyCheckoutProvider,
    LemonSqueezyConfig,
    LemonSqueezyWebhook,
)
from localcore.metering.service import CreditsService
from localcore.metering.settings import (
    CREDIT_MICROS_PER_UNIT,
    CreditsSettings,
    eur_to_micros,
    pack_micros,
    policy_config,
    read_settings,
    settings_problems,
)
from localcore.metering.stripe import (
    CustomPack,
    StripeCheckout,
    StripeCheckoutProvider,
    StripeConfig,
    StripeWebhook,
)
from localcore.store import Backend, User

log = logging.getLogger("localcore.credits")
DEFAULT_HISTORY_LIMIT = 20
_LEADING_INT = re.compile(r"^\s*([+-]?\d+)")


@dataclass(slots=True)
class CreditsFeature:
    service: CreditsService
    settings: CreditsSettings
    checkout: CheckoutProvider | None = None
    lemonsqueezy: LemonSqueezyWebhook | None = None
    stripe: StripeWebhook | None = None
    dev: DevCheckoutProvider | None = None
    http: aiohttp.ClientSession | None = None


CREDITS: web.AppKey[CreditsFeature] = web.AppKey("credits", CreditsFeature)


# --------------------------------------------------------------------------- request/response models


class CheckoutBody(BaseModel):
    model_config = ConfigDict(extra="allow")
    pack: str | None = None


class CheckoutResponse(BaseModel):
    url: str


class HistoryQuery(BaseModel):
    limit: str | None = None


class WebhookResponse(BaseModel):
    ok: bool
    reason: str | None = None
    orderId: str | None = None
    created: bool | None = None


# --------------------------------------------------------------------------- handlers


async def _user(request: web.Request) -> User:
    user = await current_user(request)
    if user is None:
        raise CreditsError(401, "unauthorized", "authentication required")
    return user


def parse_history_limit(value: object) -> int:
    """``parseInt`` prefix semantics (``"5abc"`` → 5); clamped to 1..50; missing or garbage → 20."""
    if isinstance(value, int) and not isinstance(value, bool):
        number = value
    else:
        match = _LEADING_INT.match(value) if isinstance(value, str) else None
        if match is None:
            return DEFAULT_HISTORY_LIMIT
        number = int(match.group(1))
    return max(1, min(50, number))


async def balance(request: web.Request) -> web.Response:
    user = await _user(request)
    feature = request.app[CREDITS]
    body = (await feature.service.get_balance(user.id)).to_json()
    body["checkoutEnabled"] = feature.checkout is not None
    packs = feature.checkout.packs() if feature.checkout is not None else []
    if packs:
        body["packs"] = [p.to_json() for p in packs]
    return web.json_response(body)


async def history(request: web.Request) -> web.Response:
    user = await _user(request)
    limit = parse_history_limit(request.query.get("limit"))
    entries = await request.app[CREDITS].service.list_ledger(user.id, limit)
    return web.json_response({"entries": [
        {"id": e.id, "kind": e.kind, "amountMicros": e.amount_micros, "createdAt": _iso(e.created_at),
         "description": e.description} for e in entries]})


def _iso(value: Any) -> str:
    from localcore.clock import iso

    return iso(value) or ""


async def checkout(request: web.Request) -> web.Response:
    user = await _user(request)
    feature = request.app[CREDITS]
    provider = feature.checkout
    assert provider is not None  # the route exists only with a provider
    data = await read_json(request, allow_empty=True)
    requested = data.get("pack") if isinstance(data, dict) else None
    pack_id = provider.resolve_pack(requested)
    if pack_id is None:
        raise CreditsError(400, "invalid_pack", "unknown credit pack")
    try:
        url = await provider.create_checkout(feature.http, user_id=user.id, email=user.email or None,
                                             pack_id=pack_id)
    except CheckoutFailed as exc:
        log.warning("credits: %s checkout failed: %s", provider.name, exc)
        raise CreditsError(502, "checkout_failed", "could not create checkout") from exc
    return web.json_response({"url": url})


async def lemonsqueezy_webhook(request: web.Request) -> web.Response:
    handler = request.app[CREDITS].lemonsqueezy
    assert handler is not None
    result = await handler.handle(await request.read(), request.headers)
    return web.json_response(result.body, status=result.status)


async def stripe_webhook(request: web.Request) -> web.Response:
    handler = request.app[CREDITS].stripe
    assert handler is not None
    result = await handler.handle(await request.read(), request.headers)
    return web.json_response(result.body, status=result.status)


def _dev(request: web.Request) -> DevCheckoutProvider:
    dev = request.app[CREDITS].dev
    assert dev is not None
    return dev


async def dev_checkout_show(request: web.Request) -> web.Response:
    user = await _user(request)
    record = await _dev(request).get(request.match_info["checkout_id"], user.id)
    return web.json_response(record.to_json())


async def dev_checkout_complete(request: web.Request) -> web.Response:
    user = await _user(request)
    record, result = await _dev(request).complete(request.match_info["checkout_id"], user.id)
    return web.json_response({**record.to_json(), "webhook": {"status": result.status, **result.body}})


async def dev_checkout_refund(request: web.Request) -> web.Response:
    user = await _user(request)
    record, result = await _dev(request).refund(request.match_info["checkout_id"], user.id)
    return web.json_response({**record.to_json(), "webhook": {"status": result.status, **result.body}})


# --------------------------------------------------------------------------- wiring


def build_feature(settings: CreditsSettings, config: Config, backend: Backend, *, console_mail: bool,
                  clock: Any) -> CreditsFeature:
    """The service plus whichever provider the settings ask for (at most one)."""
    service = CreditsService(backend.metering, policy_config(settings))
    feature = CreditsFeature(service=service, settings=settings)
    if not settings.enabled:
        return feature
    s = settings

    async def user_exists(user_id: str) -> bool:
        return await backend.users.get_user(user_id) is not None

    if s.ls_webhook_secret:
        secrets = attribution_secrets(s.attribution_secret, s.attribution_secret_previous, s.ls_webhook_secret)
        ls_checkout = None
        if s.ls_api_key and s.ls_store_id and s.ls_variants:
            ls_checkout = LemonSqueezyCheckout(
                api_key=s.ls_api_key, store_id=s.ls_store_id, variants=dict(s.ls_variants),
                default_pack=s.ls_default_pack or next(iter(s.ls_variants)), test_mode=s.ls_test_mode == "1",
                redirect_url=s.ls_redirect_url, api_base_url=s.ls_api_base_url)
            feature.checkout = LemonSqueezyCheckoutProvider(ls_checkout, secrets[0], s.currency)
        ls_config = LemonSqueezyConfig(
            webhook_secret=s.ls_webhook_secret,
            credit_micros_by_variant={v: pack_micros(p) or 0 for p, v in s.ls_variants.items()},
            expected_test_mode=s.ls_test_mode == "1", attribution_secrets=secrets,
            expected_store_id=s.ls_store_id, credit_only_store=s.ls_credit_only_store,
            require_currency=s.currency.upper(), credit_micros_per_unit=CREDIT_MICROS_PER_UNIT, checkout=ls_checkout)
        feature.lemonsqueezy = LemonSqueezyWebhook(ls_config, service, user_exists)
    elif s.stripe_webhook_secret:
        secrets = attribution_secrets(s.attribution_secret, s.attribution_secret_previous, s.stripe_webhook_secret)
        custom = (CustomPack(s.stripe_custom_pack_id, eur_to_micros(s.stripe_custom_min_eur) // 10_000)
                  if s.stripe_custom_price_id else None)
        st_checkout = None
        if s.stripe_secret_key and s.stripe_redirect_url:
            default = s.stripe_default_pack or next(iter(s.stripe_prices), custom.id if custom else "")
            st_checkout = StripeCheckout(
                secret_key=s.stripe_secret_key, prices=dict(s.stripe_prices), default_pack=default,
                redirect_url=s.stripe_redirect_url, custom_price_id=s.stripe_custom_price_id,
                api_base_url=s.stripe_api_base_url)
            feature.checkout = StripeCheckoutProvider(st_checkout, custom, secrets[0], s.currency)
        st_config = StripeConfig(
            webhook_secret=s.stripe_webhook_secret,
            credit_micros_by_pack={p: pack_micros(p) or 0 for p in s.stripe_prices},
            expected_test_mode=s.stripe_test_mode == "1", attribution_secrets=secrets,
            require_currency=s.currency.upper(), credit_only_store=s.stripe_credit_only_store,
            credit_micros_per_unit=CREDIT_MICROS_PER_UNIT, tolerance_seconds=s.stripe_webhook_tolerance_seconds,
            custom_pack=custom, checkout=st_checkout)
        feature.stripe = StripeWebhook(st_config, service, user_exists, clock)
    elif s.dev_checkout == "on" or (s.dev_checkout == "auto" and console_mail and config.env != "production"):
        secret = dev_webhook_secret()
        secrets = attribution_secrets(s.attribution_secret, s.attribution_secret_previous, secret)
        dev_config = StripeConfig(
            webhook_secret=secret, credit_micros_by_pack={p: pack_micros(p) or 0 for p in s.dev_packs},
            expected_test_mode=True, attribution_secrets=secrets, require_currency=s.currency.upper(),
            credit_micros_per_unit=CREDIT_MICROS_PER_UNIT)
        feature.stripe = StripeWebhook(dev_config, service, user_exists, clock)
        feature.dev = DevCheckoutProvider(
            tokens=backend.tokens, webhook=feature.stripe, pack_ids=s.dev_packs, currency=s.currency,
            base_url=config.auth.url, attribution_secret=secrets[0], clock=clock)
        feature.checkout = feature.dev
    return feature


def setup_credits(app: web.Application, catalog: RouteCatalog) -> CreditsFeature:
    """Validate the credits settings (``ConfigError`` listing every problem), wire the service and the
    provider, register the routes, the capabilities entry and the background sweeper."""
    config = app[CONFIG]
    settings = read_settings(config.credits)
    problems = settings_problems(settings, production=config.env == "production")
    if problems:
        raise ConfigError(problems)
    console_mail = app[MAILER].dev_mailbox is not None
    feature = build_feature(settings, config, app[BACKEND], console_mail=console_mail, clock=app[CLOCK])
    app[CREDITS] = feature
    if not settings.enabled:
        log.warning("credits: disabled (BORING_CREDITS_ENABLED=0): no consumption, checkout or webhooks")
    policy = feature.service.config
    if settings.enabled and 0 < policy.signup_grant_micros < policy.run_reservation_micros + policy.min_balance_micros:
        log.warning("credits: the signup grant (%d micros) is below the per-run hold plus minimum balance (%d); "
                    "new users cannot start a run until they buy credits", policy.signup_grant_micros,
                    policy.run_reservation_micros + policy.min_balance_micros)
    _register(app, catalog, feature)
    if CAPABILITIES in app:
        app[CAPABILITIES]["credits"] = {
            "enabled": settings.enabled,
            "checkout": feature.checkout.name if feature.checkout is not None else None,
        }
    app.cleanup_ctx.append(_lifecycle)
    return feature


def _register(app: web.Application, catalog: RouteCatalog, feature: CreditsFeature) -> None:
    router, tag = app.router, "credits"
    catalog.add(router, "GET", "/api/credits/balance", balance, summary="Credit balance, checkout packs", tag=tag,
                auth=True)
    catalog.add(router, "GET", "/api/credits/history", history, summary="Recent credit activity", tag=tag,
                query=HistoryQuery, auth=True)
    if feature.checkout is not None:
        catalog.add(router, "POST", "/api/credits/checkout", checkout, summary="Start a hosted checkout",
                    tag=tag, body=CheckoutBody, response=CheckoutResponse, auth=True,
                    responses={400: "invalid_pack", 502: "checkout_failed"})
    webhook_responses = {401: "invalid_signature", 400: "invalid_json / unparseable", 500: "retryable"}
    if feature.lemonsqueezy is not None:
        catalog.add(router, "POST", "/api/credits/webhooks/lemonsqueezy", lemonsqueezy_webhook,
                    summary="Lemon Squeezy order webhook (X-Signature over the raw body)", tag=tag,
                    response=WebhookResponse, responses=webhook_responses)
    if feature.stripe is not None:
        catalog.add(router, "POST", "/api/credits/webhooks/stripe", stripe_webhook,
                    summary="Stripe checkout/refund webhook (Stripe-Signature t=…,v1=…)", tag=tag,
                    response=WebhookResponse, responses=webhook_responses)
    if feature.dev is not None:
        base = "/api/credits/dev/checkouts/{checkout_id}"
        catalog.add(router, "GET", base, dev_checkout_show, summary="An offline dev checkout", tag=tag,
                    auth=True, responses={404: "not_found"})
        catalog.add(router, "POST", f"{base}/complete", dev_checkout_complete, tag=tag, auth=True,
                    summary="Pay an offline dev checkout (delivers a signed webhook in-process)",
                    responses={404: "not_found", 409: "checkout_not_open"})
        catalog.add(router, "POST", f"{base}/refund", dev_checkout_refund, tag=tag, auth=True,
                    summary="Refund an offline dev checkout (delivers a signed refund webhook in-process)",
                    responses={404: "not_found", 409: "checkout_not_paid"})


async def _lifecycle(app: web.Application) -> AsyncIterator[None]:
    """The provider HTTP client and the stale-reservation sweeper (every user, off the request path)."""
    feature = app[CREDITS]
    if feature.checkout is not None and feature.dev is None:
        feature.http = aiohttp.ClientSession()
    sweeper: asyncio.Task[None] | None = None
    interval = feature.settings.sweep_interval_seconds
    if feature.service.enabled and interval > 0:
        sweeper = asyncio.create_task(_sweep_forever(feature.service, interval))
    try:
        yield
    finally:
        if sweeper is not None:
            sweeper.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await sweeper
        if feature.http is not None:
            await feature.http.close()
            feature.http = None


async def _sweep_forever(service: CreditsService, interval: float) -> None:
    while True:
        await asyncio.sleep(interval)
        try:
            expired = await service.sweep()
        except Exception:  # one failed sweep must not stop the next
            log.exception("credits: stale-reservation sweep failed")
        else:
            if expired:
                log.info("credits: expired %d stale reservations", expired)
