"""The credits feature's object (``app[CREDITS]``): the service plus whichever checkout and webhook the
settings ask for (at most one provider), and its lifecycle (the provider HTTP client and the
stale-reservation sweeper).
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from dataclasses import dataclass
from typing import Any

import aiohttp
from aiohttp import web

from localcore.config import Config
from localcore.contract.clock import Clock
from localcore.metering.checkout import CheckoutProvider, attribution_secrets
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
)
from localcore.metering.stripe import (
    CustomPack,
    StripeCheckout,
    StripeCheckoutProvider,
    StripeConfig,
    StripeWebhook,
)
from localcore.store import Backend

log = logging.getLogger("localcore.credits")


@dataclass(slots=True)
class CreditsFeature:
    service: CreditsService
    settings: CreditsSettings
    checkout: CheckoutProvider | None = None
    lemonsqueezy: LemonSqueezyWebhook | None = None
    stripe: StripeWebhook | None = None
    dev: DevCheckoutProvider | None = None
    http: aiohttp.ClientSession | None = None

    def capability(self) -> dict[str, Any]:
        """The ``credits`` entry of ``/api/v1/capabilities``."""
        return {"enabled": self.settings.enabled,
                "checkout": self.checkout.name if self.checkout is not None else None}


CREDITS: web.AppKey[CreditsFeature] = web.AppKey("credits", CreditsFeature)


def build_feature(settings: CreditsSettings, config: Config, backend: Backend, *, console_mail: bool,
                  clock: Clock) -> CreditsFeature:
    """The service over ``backend.metering`` plus whichever provider the settings ask for: Lemon Squeezy,
    Stripe, or — with no provider, outside production, with console mail (or when forced) — the offline
    dev checkout."""
    feature = CreditsFeature(service=CreditsService.for_store(backend.metering, policy_config(settings)),
                             settings=settings)
    if not settings.enabled:
        return feature

    async def user_exists(user_id: str) -> bool:
        return await backend.users.get_user(user_id) is not None

    s = settings
    if s.ls_webhook_secret:
        secrets = attribution_secrets(s.attribution_secret, s.attribution_secret_previous, s.ls_webhook_secret)
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
            require_currency=s.currency.upper(), credit_micros_per_unit=CREDIT_MICROS_PER_UNIT)
        feature.lemonsqueezy = LemonSqueezyWebhook(ls_config, feature.service, user_exists)
    elif s.stripe_webhook_secret:
        secrets = attribution_secrets(s.attribution_secret, s.attribution_secret_previous, s.stripe_webhook_secret)
        custom = (CustomPack(s.stripe_custom_pack_id, eur_to_micros(s.stripe_custom_min_eur) // 10_000)
                  if s.stripe_custom_price_id else None)
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
            custom_pack=custom)
        feature.stripe = StripeWebhook(st_config, feature.service, user_exists, clock)
    elif s.dev_checkout == "on" or (s.dev_checkout == "auto" and console_mail and config.env != "production"):
        secret = dev_webhook_secret()
        secrets = attribution_secrets(s.attribution_secret, s.attribution_secret_previous, secret)
        dev_config = StripeConfig(
            webhook_secret=secret, credit_micros_by_pack={p: pack_micros(p) or 0 for p in s.dev_packs},
            expected_test_mode=True, attribution_secrets=secrets, require_currency=s.currency.upper(),
            credit_micros_per_unit=CREDIT_MICROS_PER_UNIT)
        feature.stripe = StripeWebhook(dev_config, feature.service, user_exists, clock)
        feature.dev = DevCheckoutProvider(
            tokens=backend.tokens, webhook=feature.stripe, pack_ids=s.dev_packs, currency=s.currency,
            base_url=config.auth.url, attribution_secret=secrets[0], clock=clock)
        feature.checkout = feature.dev
    return feature


def warn_about_policy(feature: CreditsFeature) -> None:
    """Log what is allowed but probably not meant: the kill switch, a signup grant too small to run."""
    if not feature.settings.enabled:
        log.warning("credits: disabled (BORING_CREDITS_ENABLED=0): no consumption, checkout or webhooks")
        return
    policy = feature.service.config
    floor = policy.run_reservation_micros + policy.min_balance_micros
    if 0 < policy.signup_grant_micros < floor:
        log.warning("credits: the signup grant (%d micros) is below the per-run hold plus minimum balance (%d); "
                    "new users cannot start a run until they buy credits", policy.signup_grant_micros, floor)


async def credits_lifecycle(app: web.Application) -> AsyncIterator[None]:
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
