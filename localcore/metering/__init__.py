"""Credits metering: the policy over ``backend.metering``, pricing, checkout providers and their webhooks,
the ``/api/credits/*`` routes and the ``credits`` CLI. The ledger itself (records, store Protocol, rules)
is the contract's: ``localcore.contract.ledger``.

``setup_credits(app, catalog)`` wires it into an app built by ``create_app``: the feature on
``app[CREDITS]``, the routes through the OpenAPI catalog, the capabilities entry and the sweeper.

Module map: ``service`` (``CreditsService``, the policy, and ``LEDGER_VOCABULARY``, the names its ledger
rows carry), ``pricing`` (token usage → micros), ``settings`` (``CreditsSettings``, part of ``Config``, and
their start-up rules), ``checkout`` (packs, the checkout interface), ``webhooks`` (the one webhook flow),
``lemonsqueezy``/``stripe`` (what each provider does differently), ``devcheckout`` (the offline checkout),
``payload`` (defensive payload readers), ``feature`` (the feature object, built from the settings, and its
lifecycle), ``models`` (wire shapes), ``routes`` (HTTP only), ``cli`` (``credits grant|balance|history``).

This package's own import pulls in no aiohttp (``localcore.config`` reads the settings model from it); the
web side is imported when ``setup_credits`` runs.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localcore.metering.service import LEDGER_VOCABULARY, CreditsService
from localcore.metering.settings import CreditsSettings, load_credits_settings, read_settings, settings_problems

if TYPE_CHECKING:
    from aiohttp import web

    from localcore.http.openapi import RouteCatalog
    from localcore.metering.feature import CreditsFeature

__all__ = ["LEDGER_VOCABULARY", "CreditsService", "CreditsSettings", "load_credits_settings", "read_settings",
           "settings_problems", "setup_credits"]


def setup_credits(app: web.Application, catalog: RouteCatalog) -> CreditsFeature:
    """Install the credits feature on ``app``: built from ``Config.credits`` (already checked by
    ``load_config``; checked again here for a ``Config`` made another way), with its routes, its
    lifecycle; its capabilities entry is ``feature.capability()``. Needs the config, backend, clock and
    mailer on the app first."""
    from localcore.appkeys import BACKEND, CLOCK, CONFIG, MAILER, require
    from localcore.errors import ConfigError
    from localcore.http.families import ROUTE_FAMILIES
    from localcore.metering.feature import CREDITS, build_feature, credits_lifecycle, warn_about_policy
    from localcore.metering.routes import setup_credit_routes

    require(app, "credits", CONFIG, BACKEND, CLOCK, MAILER, ROUTE_FAMILIES)
    config = app[CONFIG]
    problems = settings_problems(config.credits, production=config.env == "production")
    if problems:
        raise ConfigError(problems)
    feature = build_feature(config.credits, config, app[BACKEND], clock=app[CLOCK],
                            console_mail=app[MAILER].dev_mailbox is not None)
    app[CREDITS] = feature
    warn_about_policy(feature)
    setup_credit_routes(app, catalog, feature)
    app.cleanup_ctx.append(credits_lifecycle)
    return feature
