"""Token usage → credit micros, fail-closed.

Rates are pricing-currency units (EUR) per million tokens. The configured rates are searched first, then
the built-in table; an unmatched model bills at the *highest* known rate (never at zero, never at a cheap
default), unless the operator set an explicit ``default_rate``. Cache tokens bill at the input rate (a
deliberate over-count). Provider-reported cost is opt-in. The float operations keep upstream's order so
results match it bit for bit: ``ceil(units * margin * creditMicrosPerUnit)``.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from numbers import Real


@dataclass(frozen=True, slots=True)
class Rate:
    input_per_million: float
    output_per_million: float


@dataclass(frozen=True, slots=True)
class RateRule:
    pattern: re.Pattern[str]
    rate: Rate


def rule(pattern: str, input_per_million: float, output_per_million: float) -> RateRule:
    """A case-insensitive rate rule (upstream's regexes all carry the ``i`` flag)."""
    return RateRule(re.compile(pattern, re.IGNORECASE), Rate(input_per_million, output_per_million))


CONSERVATIVE_DEFAULT_RATE = Rate(3, 15)
# Opus comes before Sonnet so an Opus SKU can never get the Sonnet rate.
DEFAULT_MODEL_RATES: tuple[RateRule, ...] = (
    rule(r"kimi-k2", 0.6, 2.5),
    rule(r"claude-(?:[0-9.-]*opus|opus[0-9.-]*)", 15, 75),
    rule(r"claude-(?:sonnet|3-5-sonnet|3-7-sonnet|sonnet-4|4-sonnet|4-5-sonnet)", 3, 15),
    rule(r"claude-3-haiku", 0.25, 1.25),
)


@dataclass(frozen=True, slots=True)
class PricingConfig:
    margin: float = 1.3
    credit_micros_per_unit: int = 1_000_000
    rates: tuple[RateRule, ...] = ()
    default_rate: Rate | None = None
    prefer_provider_reported_cost: bool = False


@dataclass(frozen=True, slots=True)
class TokenUsage:
    input_tokens: object = 0
    output_tokens: object = 0
    cache_read_tokens: object = 0
    cache_write_tokens: object = 0
    provider_reported_cost: object = None


@dataclass(frozen=True, slots=True)
class PricedUsage:
    input_tokens: int
    output_tokens: int
    cache_read_tokens: int
    cache_write_tokens: int
    provider_cost_micros: int
    billed_micros: int
    priced_from_default: bool


def clamp_tokens(value: object) -> int:
    """Not a finite number, or ≤ 0 → 0; otherwise truncated to an integer."""
    if isinstance(value, bool) or not isinstance(value, Real):
        return 0
    number = float(value)
    if not math.isfinite(number) or number <= 0:
        return 0
    return math.trunc(number)


def model_key(provider: str | None, model_id: str | None) -> str:
    """``provider/id`` from the non-empty parts, so a provider-keyed rule matches every model it serves."""
    parts = [p for p in (provider, model_id) if p]
    return "/".join(parts) if parts else "unknown"


def rate_table(config: PricingConfig) -> tuple[RateRule, ...]:
    """Configured rules first, then the built-ins: configuration adds to the table, never replaces it."""
    return (*config.rates, *DEFAULT_MODEL_RATES)


def _max_rate(start: Rate, rules: tuple[RateRule, ...]) -> Rate:
    top_in, top_out = start.input_per_million, start.output_per_million
    for item in rules:
        top_in = max(top_in, item.rate.input_per_million)
        top_out = max(top_out, item.rate.output_per_million)
    return Rate(top_in, top_out)


def max_effective_rate(config: PricingConfig) -> Rate:
    """The rate an unmatched model bills at: element-wise max over every rule and the fallback."""
    return _max_rate(config.default_rate or CONSERVATIVE_DEFAULT_RATE, rate_table(config))


def max_served_rate(config: PricingConfig) -> Rate:
    """The max over the configured rules and the fallback only (sizes the per-run hold)."""
    return _max_rate(config.default_rate or CONSERVATIVE_DEFAULT_RATE, config.rates)


def rate_for(key: str, config: PricingConfig) -> tuple[Rate, bool]:
    """The first rule whose pattern *searches* positively; else the fallback. Returns (rate, used_default)."""
    for item in rate_table(config):
        if item.pattern.search(key):
            return item.rate, False
    return (config.default_rate or max_effective_rate(config)), True


def usage_to_credits(usage: TokenUsage, config: PricingConfig, *, provider: str | None = None,
                     model_id: str | None = None) -> PricedUsage:
    """Price one usage record: provider cost and the billed amount (with margin), both rounded up."""
    input_tokens = clamp_tokens(usage.input_tokens)
    output_tokens = clamp_tokens(usage.output_tokens)
    cache_read = clamp_tokens(usage.cache_read_tokens)
    cache_write = clamp_tokens(usage.cache_write_tokens)
    rate, used_default = rate_for(model_key(provider, model_id), config)
    units = ((input_tokens + cache_read + cache_write) / 1_000_000) * rate.input_per_million + \
        (output_tokens / 1_000_000) * rate.output_per_million
    reported = usage.provider_reported_cost
    used_reported = (config.prefer_provider_reported_cost and isinstance(reported, Real)
                     and not isinstance(reported, bool) and math.isfinite(float(reported))
                     and float(reported) > 0)
    if used_reported:
        units = float(reported)  # type: ignore[arg-type]
    margin = config.margin if math.isfinite(config.margin) and config.margin > 0 else 1
    return PricedUsage(
        input_tokens=input_tokens,
        output_tokens=output_tokens,
        cache_read_tokens=cache_read,
        cache_write_tokens=cache_write,
        provider_cost_micros=math.ceil(units * config.credit_micros_per_unit),
        billed_micros=math.ceil(units * margin * config.credit_micros_per_unit),
        priced_from_default=not used_reported and used_default,
    )


def worst_case_run_micros(config: PricingConfig, rate: Rate, *, max_context_tokens: int = 200_000,
                          max_output_tokens: int = 16_384, max_calls: int = 4) -> int:
    """The most one run can cost at ``rate`` (hold sizing): every call at full context and output."""
    per_call = (max_context_tokens / 1_000_000) * rate.input_per_million + \
        (max_output_tokens / 1_000_000) * rate.output_per_million
    return math.ceil(per_call * max_calls * config.margin * config.credit_micros_per_unit)
