"""Credits settings: TOML + ``BORING_CREDITS_*`` parsing and the start-up rules (provider combinations, missing
secrets, packs, production refusals), every problem reported at once."""

from __future__ import annotations

from typing import Any

import pytest

from localcore.errors import ConfigError
from localcore.metering.settings import policy_config, read_settings, settings_problems

LS = {"BORING_CREDITS_LS_WEBHOOK_SECRET": "s", "BORING_CREDITS_LS_API_KEY": "k", "BORING_CREDITS_LS_STORE_ID": "1",
      "BORING_CREDITS_LS_TEST_MODE": "1", "BORING_CREDITS_LS_VARIANTS": "10:101,25:102"}
STRIPE = {"BORING_CREDITS_STRIPE_WEBHOOK_SECRET": "s", "BORING_CREDITS_STRIPE_SECRET_KEY": "k",
          "BORING_CREDITS_STRIPE_PRICES": "10:price_a", "BORING_CREDITS_STRIPE_TEST_MODE": "0",
          "BORING_CREDITS_STRIPE_REDIRECT_URL": "https://app.example/credits"}


def problems(env: dict[str, str], toml: dict[str, Any] | None = None, *, production: bool = False) -> list[str]:
    try:
        settings = read_settings({**(toml or {}), "env": env})
    except ConfigError as exc:
        return exc.problems
    return settings_problems(settings, production=production)


def test_defaults_are_upstreams() -> None:
    config = policy_config(read_settings({}))
    assert (config.signup_grant_micros, config.run_reservation_micros, config.min_balance_micros,
            config.reservation_ttl_seconds, config.pricing.margin) == (2_000_000, 1_000_000, 50_000, 7200, 1.3)
    assert problems({}) == []


def test_env_wins_over_toml_and_values_convert() -> None:
    settings = read_settings({"signup_grant_eur": 3, "margin": 1.5,
                              "env": {"BORING_CREDITS_SIGNUP_GRANT_EUR": "2.50",
                                      "BORING_CREDITS_RATES": "infomaniak=0.5:1.5; kimi=1:2",
                                      "BORING_CREDITS_DEFAULT_RATE": "4:8"}})
    config = policy_config(settings)
    assert config.signup_grant_micros == 2_500_000 and config.pricing.margin == 1.5
    assert [(r.pattern.pattern, r.rate.input_per_million) for r in config.pricing.rates] == \
        [("infomaniak", 0.5), ("kimi", 1.0)]
    assert config.pricing.rates[0].pattern.search("INFOMANIAK/x")  # case-insensitive like upstream
    assert config.pricing.default_rate is not None and config.pricing.default_rate.output_per_million == 8


def test_every_problem_is_reported_at_once_with_its_source() -> None:
    found = problems({"BORING_CREDITS_MARGIN": "0.9", "BORING_CREDITS_RATES": "m=0:1",
                      "BORING_CREDITS_LS_VARIANTS": "10:abc", "BORING_CREDITS_NOPE": "1"},
                     {"reservation_eur": "lots"})
    text = "\n".join(found)
    for needle in ("BORING_CREDITS_MARGIN", "BORING_CREDITS_RATES", "BORING_CREDITS_LS_VARIANTS",
                   "BORING_CREDITS_NOPE: unknown", "credits.reservation_eur"):
        assert needle in text, needle


@pytest.mark.parametrize(("env", "needle"), [
    ({**LS, **STRIPE}, "not both"),
    ({**LS, "BORING_CREDITS_LS_TEST_MODE": ""}, "BORING_CREDITS_LS_TEST_MODE"),
    ({**LS, "BORING_CREDITS_LS_VARIANTS": ""}, "BORING_CREDITS_LS_VARIANTS"),
    ({**LS, "BORING_CREDITS_LS_DEFAULT_PACK": "50"}, "BORING_CREDITS_LS_DEFAULT_PACK"),
    ({**LS, "BORING_CREDITS_LS_STORE_ID": ""}, "BORING_CREDITS_LS_STORE_ID"),
    ({**LS, "BORING_CREDITS_LS_API_KEY": ""}, "BORING_CREDITS_LS_API_KEY"),
    ({**LS, "BORING_CREDITS_LS_VARIANTS": "10:101,10:102"}, "duplicate pack"),
    ({**LS, "BORING_CREDITS_LS_VARIANTS": "10:101,25:101"}, "duplicate variant"),
    ({**LS, "BORING_CREDITS_LS_VARIANTS": "0:101"}, "positive EUR"),
    ({**STRIPE, "BORING_CREDITS_CURRENCY": "JPY"}, "2-decimal"),
    ({**STRIPE, "BORING_CREDITS_STRIPE_WEBHOOK_SECRET": ""}, "BORING_CREDITS_STRIPE_WEBHOOK_SECRET"),
    ({**STRIPE, "BORING_CREDITS_STRIPE_REDIRECT_URL": ""}, "BORING_CREDITS_STRIPE_REDIRECT_URL"),
    ({**STRIPE, "BORING_CREDITS_STRIPE_DEFAULT_PACK": "25"}, "BORING_CREDITS_STRIPE_DEFAULT_PACK"),
    ({**STRIPE, "BORING_CREDITS_STRIPE_PRICES": "10:nope"}, "price_"),
    ({**STRIPE, "BORING_CREDITS_STRIPE_CUSTOM_PRICE_ID": "price_c", "BORING_CREDITS_STRIPE_CUSTOM_PACK_ID": "10"},
     "collides"),
    ({"BORING_CREDITS_SIGNUP_GRANT_EXPIRES_DAYS": "30"}, "must not expire"),
    ({"BORING_CREDITS_RESERVATION_TTL_SECONDS": "1900"}, "BORING_CREDITS_MAX_RUN_SECONDS"),
    ({"BORING_CREDITS_RATES": "(=1:2"}, "bad regex"),
    ({"BORING_CREDITS_DEV_PACKS": "10,abc"}, "BORING_CREDITS_DEV_PACKS"),
    ({**LS, "BORING_CREDITS_DEV_CHECKOUT": "on"}, "beside a real provider"),
])
def test_registration_rules(env: dict[str, str], needle: str) -> None:
    assert any(needle in p for p in problems(env)), problems(env)


def test_valid_providers_pass() -> None:
    assert problems(LS) == []
    assert problems(STRIPE) == []
    assert problems({**STRIPE, "BORING_CREDITS_STRIPE_CUSTOM_PRICE_ID": "price_c",
                     "BORING_CREDITS_STRIPE_DEFAULT_PACK": "custom"}) == []


def test_production_refuses_test_mode_and_the_dev_checkout() -> None:
    assert any("production" in p for p in problems(LS, production=True))
    assert any("production" in p for p in problems({"BORING_CREDITS_DEV_CHECKOUT": "on"}, production=True))
    assert problems({**LS, "BORING_CREDITS_LS_TEST_MODE": "0"}, production=True) == []


def test_kill_switch_ignores_everything_else() -> None:
    settings = read_settings({"env": {"BORING_CREDITS_ENABLED": "0", "BORING_CREDITS_MARGIN": "x",
                                      "BORING_CREDITS_TYPO": "1", **LS, **STRIPE}})
    assert settings.enabled is False
    assert settings_problems(settings, production=True) == []
    assert read_settings({"enabled": False}).enabled is False
