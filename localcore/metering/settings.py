"""Credits configuration: the ``[credits]`` TOML table and the ``BORING_CREDITS_*`` environment, read into
the typed ``CreditsSettings`` that ``Config.credits`` holds. ``load_config`` reads and checks them with
everything else (every problem reported at once in one ``ConfigError``); nothing here imports aiohttp.

One key space: a TOML key is the environment name without ``BORING_CREDITS_``, lowercased
(``BORING_CREDITS_LS_WEBHOOK_SECRET`` ↔ ``[credits] ls_webhook_secret``); the environment wins. Unknown
keys are errors, because a typo in money configuration must not silently fall back to a default. The
names follow upstream's app wiring (``BORING_CREDITS_ENABLED``, ``_SIGNUP_GRANT_EUR``, ``_RESERVATION_EUR``,
``_MIN_BALANCE_EUR``, ``_MARGIN``, ``_RATES``, ``_LS_*``, ``_STRIPE_*``, ``_ATTRIBUTION_SECRET[_PREVIOUS]``);
provider API base URLs are configurable so tests can run fake providers on loopback.

Registration-time rules are checked here too (``settings_problems``): both providers at once, Lemon
Squeezy without credit variants, store id or explicit test mode, a webhook without server-side checkout
(no attribution token could ever be minted), Stripe non-2-decimal currencies, checkout without webhook
secret or redirect URL, unknown default packs, custom-pack collisions, test mode in production.
"""

from __future__ import annotations

import math
import re
from collections.abc import Mapping
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localcore.contract.ledger import SAFE_INTEGER_MAX
from localcore.errors import ConfigError
from localcore.metering.pricing import PricingConfig, Rate, RateRule
from localcore.metering.service import CreditsConfig, config_problems

ENV_PREFIX = "BORING_CREDITS_"
CREDIT_MICROS_PER_UNIT = 1_000_000
SETTLEMENT_SLACK_SECONDS = 300
LEMONSQUEEZY_API = "https://api.lemonsqueezy.com"
STRIPE_API = "https://api.stripe.com"
# Stripe amounts for these are not in cents: a pack price in minor units would mis-credit.
NON_TWO_DECIMAL_CURRENCIES = frozenset((
    "BIF", "CLP", "DJF", "GNF", "JPY", "KMF", "KRW", "MGA", "PYG", "RWF", "UGX", "VND", "VUV", "XAF", "XOF",
    "XPF", "BHD", "IQD", "JOD", "KWD", "LYD", "OMR", "TND"))
_PRICE_ID = re.compile(r"^price_[A-Za-z0-9]+$")


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


def _split(value: str, sep: str = ",") -> list[str]:
    return [part.strip() for part in value.split(sep) if part.strip()]


def _pack_map(value: Any, what: str) -> dict[str, str]:
    """``"10:123,25:456"`` (or a TOML table) → ``{"10": "123", "25": "456"}``: pack id (its EUR credit
    value) → provider id. Malformed, duplicate or non-positive entries are refused."""
    if value is None or value == "":
        return {}
    pairs: list[tuple[str, str]]
    if isinstance(value, dict):
        pairs = [(str(k).strip(), str(v).strip()) for k, v in value.items()]
    elif isinstance(value, str):
        pairs = []
        for entry in _split(value):
            parts = [p.strip() for p in entry.split(":")]
            if len(parts) != 2 or not all(parts):
                raise ValueError(f'entry must be "<credit EUR>:<{what}>", got {entry!r}')
            pairs.append((parts[0], parts[1]))
    else:
        raise ValueError('expected "<credit EUR>:<id>,…" or a table')
    out: dict[str, str] = {}
    for pack, provider_id in pairs:
        if pack_micros(pack) is None:
            raise ValueError(f"pack id {pack!r} must be a positive EUR credit value")
        if pack in out:
            raise ValueError(f"duplicate pack id {pack!r}")
        if provider_id in out.values():
            raise ValueError(f"duplicate {what} {provider_id!r}")
        out[pack] = provider_id
    return out


def pack_micros(pack_id: str) -> int | None:
    """A pack id is its credit value in EUR: ``"10"`` → 10_000_000 micros; None when not positive."""
    try:
        value = Decimal(pack_id)
    except InvalidOperation:
        return None
    if not value.is_finite() or value <= 0:
        return None
    micros = int((value * CREDIT_MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_UP))
    return micros if 0 < micros <= SAFE_INTEGER_MAX else None


def eur_to_micros(value: Decimal) -> int:
    return int((value * CREDIT_MICROS_PER_UNIT).to_integral_value(rounding=ROUND_HALF_UP))


class CreditsSettings(_Model):
    """The typed settings (``Config.credits``); ``policy_config`` and the feature's wiring turn them into
    the policy and the provider configs."""

    enabled: bool = True
    signup_grant_eur: Decimal = Field(default=Decimal(2), ge=0)
    signup_grant_expires_days: int = Field(default=0, ge=0)
    reservation_eur: Decimal = Field(default=Decimal(1), gt=0)
    reservation_ttl_seconds: int = Field(default=7200, ge=60)
    max_run_seconds: int = Field(default=1800, ge=1)
    min_balance_eur: Decimal = Field(default=Decimal("0.05"), ge=0)
    margin: float = Field(default=1.3, ge=1, allow_inf_nan=False)
    rates: tuple[tuple[str, float, float], ...] = ()
    default_rate: tuple[float, float] | None = None
    prefer_provider_cost: bool = False
    currency: str = Field(default="EUR", pattern=r"^[A-Za-z]{3}$")
    attribution_secret: str | None = None
    attribution_secret_previous: tuple[str, ...] = ()
    sweep_interval_seconds: float = Field(default=300, ge=0, allow_inf_nan=False)
    dev_checkout: Literal["auto", "on", "off"] = "auto"
    dev_packs: tuple[str, ...] = ("10", "25", "50")

    ls_webhook_secret: str | None = None
    ls_variants: dict[str, str] = {}
    ls_default_pack: str | None = None
    ls_store_id: str | None = None
    ls_test_mode: Literal["0", "1"] | None = None
    ls_credit_only_store: bool = True
    ls_api_key: str | None = None
    ls_redirect_url: str | None = None
    ls_api_base_url: str = LEMONSQUEEZY_API

    stripe_webhook_secret: str | None = None
    stripe_secret_key: str | None = None
    stripe_prices: dict[str, str] = {}
    stripe_default_pack: str | None = None
    stripe_test_mode: Literal["0", "1"] | None = None
    stripe_redirect_url: str | None = None
    stripe_custom_price_id: str | None = None
    stripe_custom_pack_id: str = "custom"
    stripe_custom_min_eur: Decimal = Field(default=Decimal(5), gt=0)
    stripe_credit_only_store: bool = True
    stripe_webhook_tolerance_seconds: int = 300
    stripe_api_base_url: str = STRIPE_API

    @field_validator("ls_variants", mode="before")
    @classmethod
    def _ls_variants(cls, value: Any) -> dict[str, str]:
        variants = _pack_map(value, "variant id")
        for variant in variants.values():
            if not variant.isdigit() or int(variant) <= 0:
                raise ValueError(f"variant id {variant!r} must be a positive integer Lemon Squeezy id")
        return variants

    @field_validator("stripe_prices", mode="before")
    @classmethod
    def _stripe_prices(cls, value: Any) -> dict[str, str]:
        prices = _pack_map(value, "price id")
        for price in prices.values():
            if not _PRICE_ID.match(price):
                raise ValueError(f"price id {price!r} must look like price_…")
        return prices

    @field_validator("rates", mode="before")
    @classmethod
    def _rates(cls, value: Any) -> Any:
        """``"regex=in:out;regex=in:out"`` (EUR per million tokens), or a TOML list of tables."""
        if value is None or value == "":
            return ()
        if isinstance(value, str):
            out: list[tuple[str, float, float]] = []
            for entry in _split(value, ";"):
                pattern, _, prices = entry.rpartition("=")
                parts = prices.split(":")
                if not pattern.strip() or len(parts) != 2:
                    raise ValueError(f'entry must be "<regex>=<in>:<out>", got {entry!r}')
                out.append((pattern.strip(), _positive(parts[0], entry), _positive(parts[1], entry)))
            value = out
        elif isinstance(value, list):
            value = [(item["pattern"], item["input"], item["output"]) if isinstance(item, dict) else item
                     for item in value]
        for pattern, rate_in, rate_out in value:
            try:
                re.compile(pattern)
            except re.error as exc:
                raise ValueError(f"bad regex {pattern!r}: {exc}") from None
            _positive(rate_in, pattern)
            _positive(rate_out, pattern)
        return value

    @field_validator("default_rate", mode="before")
    @classmethod
    def _default_rate(cls, value: Any) -> Any:
        if value is None or value == "":
            return None
        if isinstance(value, str):
            parts = value.split(":")
            if len(parts) != 2:
                raise ValueError(f'expected "<in>:<out>", got {value!r}')
            return (_positive(parts[0], value), _positive(parts[1], value))
        return value

    @field_validator("attribution_secret_previous", "dev_packs", mode="before")
    @classmethod
    def _csv(cls, value: Any) -> Any:
        return tuple(_split(value)) if isinstance(value, str) else value

    @field_validator("ls_webhook_secret", "ls_api_key", "ls_store_id", "ls_default_pack", "ls_redirect_url",
                     "stripe_webhook_secret", "stripe_secret_key", "stripe_default_pack", "stripe_redirect_url",
                     "stripe_custom_price_id", "attribution_secret", mode="before")
    @classmethod
    def _blank_is_unset(cls, value: Any) -> Any:
        if isinstance(value, str) and not value.strip():
            return None
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @field_validator("ls_test_mode", "stripe_test_mode", mode="before")
    @classmethod
    def _mode(cls, value: Any) -> Any:
        if isinstance(value, bool):
            return "1" if value else "0"
        return None if value in ("", None) else str(value)

    @field_validator("enabled", mode="before")
    @classmethod
    def _enabled(cls, value: Any) -> Any:
        return value.strip() != "0" if isinstance(value, str) and value.strip() in ("0", "1") else value


def _positive(text: object, entry: str) -> float:
    try:
        number = float(text)  # type: ignore[arg-type]
    except (TypeError, ValueError):
        raise ValueError(f"rates must be positive EUR/MTok numbers in {entry!r}") from None
    if not math.isfinite(number) or number <= 0:
        raise ValueError(f"rates must be positive EUR/MTok numbers in {entry!r}")
    return number


def read_settings(raw: dict[str, Any]) -> CreditsSettings:
    """The ``[credits]`` TOML table, with the ``BORING_CREDITS_*`` variables under ``"env"`` (they win), →
    typed settings, or ``ConfigError`` with every problem, each named by where it was set."""
    values: dict[str, Any] = {str(k).lower(): v for k, v in raw.items() if k != "env"}
    origin = {key: f"credits.{key}" for key in values}
    for name, value in dict(raw.get("env") or {}).items():
        key = name[len(ENV_PREFIX):].lower()
        values[key] = value
        origin[key] = name
    if "enabled" in values:
        try:
            if not CreditsSettings.model_validate({"enabled": values["enabled"]}).enabled:
                # The kill switch: nothing else is read, so stale or broken settings cannot block it.
                return CreditsSettings(enabled=False)
        except ValidationError:
            pass  # reported with the rest below
    problems = [f"{origin[key]}: unknown credits setting" for key in values
                if key not in CreditsSettings.model_fields]
    values = {k: v for k, v in values.items() if k in CreditsSettings.model_fields}
    try:
        settings = CreditsSettings.model_validate(values)
    except ValidationError as exc:
        for issue in exc.errors(include_url=False):
            key = str(issue["loc"][0]) if issue["loc"] else "credits"
            message = str(issue["msg"]).removeprefix("Value error, ")
            problems.append(f"{origin.get(key, key)}: {message}")
        raise ConfigError(problems) from None
    if problems:
        raise ConfigError(problems)
    return settings


def load_credits_settings(section: Mapping[str, Any], env: Mapping[str, str], *, production: bool,
                          problems: list[str]) -> CreditsSettings:
    """``Config.credits``: the ``[credits]`` TOML table plus every ``BORING_CREDITS_*`` variable, read and
    checked by every rule here. Each problem is appended to ``problems``; the defaults stand in for
    settings that cannot be read, so the rest of the configuration is still checked."""
    raw = dict(section)
    for name, value in env.items():
        if name.startswith(ENV_PREFIX):
            raw.setdefault("env", {})[name] = value
    try:
        settings = read_settings(raw)
    except ConfigError as exc:
        problems += exc.problems
        return CreditsSettings()
    problems += settings_problems(settings, production=production)
    return settings


def policy_config(settings: CreditsSettings) -> CreditsConfig:
    pricing = PricingConfig(
        margin=settings.margin,
        credit_micros_per_unit=CREDIT_MICROS_PER_UNIT,
        rates=tuple(RateRule(re.compile(p, re.IGNORECASE), Rate(i, o)) for p, i, o in settings.rates),
        default_rate=Rate(*settings.default_rate) if settings.default_rate else None,
        prefer_provider_reported_cost=settings.prefer_provider_cost,
    )
    return CreditsConfig(
        enabled=settings.enabled,
        signup_grant_micros=eur_to_micros(settings.signup_grant_eur),
        signup_grant_expires_after_days=settings.signup_grant_expires_days or None,
        run_reservation_micros=eur_to_micros(settings.reservation_eur),
        reservation_ttl_seconds=settings.reservation_ttl_seconds,
        min_balance_micros=eur_to_micros(settings.min_balance_eur),
        pricing=pricing,
    )


def settings_problems(settings: CreditsSettings, *, production: bool) -> list[str]:
    """Cross-field and registration-time rules: a configuration that would take payments it cannot credit,
    credit what nobody paid, or bill below cost. Nothing is checked when disabled: the kill switch must
    boot even with stale provider configuration."""
    if not settings.enabled:
        return []
    problems = [f"credits: {p}" for p in config_problems(policy_config(settings))]
    s = settings
    if s.reservation_ttl_seconds < s.max_run_seconds + SETTLEMENT_SLACK_SECONDS:
        problems.append(f"BORING_CREDITS_RESERVATION_TTL_SECONDS: must exceed BORING_CREDITS_MAX_RUN_SECONDS "
                        f"({s.max_run_seconds}) by at least {SETTLEMENT_SLACK_SECONDS}s, or the sweep could "
                        "charge a run that is still alive")
    if production and s.stripe_webhook_tolerance_seconds <= 0:
        problems.append("BORING_CREDITS_STRIPE_WEBHOOK_TOLERANCE_SECONDS: must be > 0 in production (0 accepts a "
                        "captured webhook replayed at any later time)")
    if s.currency.upper() in NON_TWO_DECIMAL_CURRENCIES:
        problems.append(f"BORING_CREDITS_CURRENCY: {s.currency.upper()} has no 2-decimal minor unit; "
                        "pack prices would mis-credit")
    ls = bool(s.ls_webhook_secret or s.ls_api_key)
    stripe = bool(s.stripe_webhook_secret or s.stripe_secret_key)
    if ls and stripe:
        problems.append("credits: configure Lemon Squeezy or Stripe, not both")
    if ls:
        problems += _lemonsqueezy_problems(s, production)
    if stripe:
        problems += _stripe_problems(s, production)
    if s.dev_checkout == "on" and (ls or stripe):
        problems.append("BORING_CREDITS_DEV_CHECKOUT: the offline checkout cannot run beside a real provider")
    if s.dev_checkout == "on" and production:
        problems.append("BORING_CREDITS_DEV_CHECKOUT: the offline checkout is not allowed in production")
    for pack in s.dev_packs:
        if pack_micros(pack) is None:
            problems.append(f"BORING_CREDITS_DEV_PACKS: pack id {pack!r} must be a positive EUR credit value")
    return problems


def _lemonsqueezy_problems(s: CreditsSettings, production: bool) -> list[str]:
    problems: list[str] = []
    if s.ls_test_mode is None:
        problems.append('BORING_CREDITS_LS_TEST_MODE: must be explicitly "0" (live) or "1" (test) when Lemon '
                        "Squeezy is configured")
    elif production and s.ls_test_mode == "1":
        problems.append("BORING_CREDITS_LS_TEST_MODE: test mode mints spendable credits from non-charging "
                        "orders; not allowed in production")
    if not s.ls_variants:
        problems.append("BORING_CREDITS_LS_VARIANTS: no credit variants; paid orders would be acknowledged "
                        "without crediting")
    if s.ls_default_pack is not None and s.ls_default_pack not in s.ls_variants:
        problems.append(f"BORING_CREDITS_LS_DEFAULT_PACK: {s.ls_default_pack!r} is not a configured pack")
    if not s.ls_store_id:
        problems.append("BORING_CREDITS_LS_STORE_ID: required (the webhook must validate the order's store)")
    if s.ls_webhook_secret and not s.ls_api_key:
        problems.append("BORING_CREDITS_LS_API_KEY: the webhook needs server-side checkout (only it mints "
                        "the attribution token; every real order would fail as untrusted_attribution)")
    if s.ls_api_key and not s.ls_webhook_secret:
        problems.append("BORING_CREDITS_LS_WEBHOOK_SECRET: checkout without a webhook would take payments "
                        "that are never credited")
    return problems


def _stripe_problems(s: CreditsSettings, production: bool) -> list[str]:
    problems: list[str] = []
    if s.stripe_test_mode is None:
        problems.append('BORING_CREDITS_STRIPE_TEST_MODE: must be explicitly "0" (live) or "1" (test) when '
                        "Stripe is configured")
    elif production and s.stripe_test_mode == "1":
        problems.append("BORING_CREDITS_STRIPE_TEST_MODE: test mode is not allowed in production")
    custom = s.stripe_custom_price_id is not None
    if custom and not _PRICE_ID.match(s.stripe_custom_price_id or ""):
        problems.append("BORING_CREDITS_STRIPE_CUSTOM_PRICE_ID: must look like price_…")
    if custom and s.stripe_custom_pack_id in s.stripe_prices:
        problems.append("BORING_CREDITS_STRIPE_CUSTOM_PACK_ID: collides with a fixed pack id")
    if not s.stripe_prices and not custom:
        problems.append("BORING_CREDITS_STRIPE_PRICES: no credit packs")
    if s.stripe_secret_key:
        if not s.stripe_webhook_secret:
            problems.append("BORING_CREDITS_STRIPE_WEBHOOK_SECRET: required when checkout is configured")
        if not s.stripe_redirect_url:
            problems.append("BORING_CREDITS_STRIPE_REDIRECT_URL: required when checkout is configured")
        default = s.stripe_default_pack
        if default is not None and default not in s.stripe_prices and not (
                custom and default == s.stripe_custom_pack_id):
            problems.append(f"BORING_CREDITS_STRIPE_DEFAULT_PACK: {default!r} is neither a fixed pack nor the "
                            "custom pack")
    elif s.stripe_webhook_secret:
        problems.append("BORING_CREDITS_STRIPE_SECRET_KEY: the webhook needs server-side checkout (only it "
                        "mints the attribution token)")
    return problems
