"""Pricing: token usage to credit micros at the configured margin, rounded up, unknown models at the highest
rate (scenarios J117 to J127, named as in docs/contract.md, "Ledger scenario names"; and fixed vectors)."""

from __future__ import annotations

import math

import pytest

from localcore.metering.pricing import (
    PricingConfig,
    Rate,
    TokenUsage,
    clamp_tokens,
    max_effective_rate,
    max_served_rate,
    model_key,
    rule,
    usage_to_credits,
    worst_case_run_micros,
)

INFOMANIAK = rule("infomaniak", 0.5, 1.5)


def test_j117_configured_rate_at_margin_one() -> None:
    priced = usage_to_credits(TokenUsage(1_000_000, 1_000_000), PricingConfig(margin=1, rates=(INFOMANIAK,)),
                              provider="infomaniak", model_id="mixtral")
    assert (priced.provider_cost_micros, priced.billed_micros, priced.priced_from_default) == \
        (2_000_000, 2_000_000, False)


def test_j118_margin_is_applied_and_rounded_up() -> None:
    priced = usage_to_credits(TokenUsage(1_000_000), PricingConfig(margin=1.3, rates=(INFOMANIAK,)),
                              provider="infomaniak")
    assert (priced.provider_cost_micros, priced.billed_micros) == (500_000, 650_000)
    assert math.ceil(0.5 * 1.3 * 1e6) == 650_000  # a fixed vector: the float order matters


def test_j119_unknown_model_bills_at_the_highest_rate() -> None:
    priced = usage_to_credits(TokenUsage(1_000_000), PricingConfig(margin=1), model_id="totally-new-model")
    assert (priced.billed_micros, priced.priced_from_default) == (15_000_000, True)
    default_margin = usage_to_credits(TokenUsage(1_000_000), PricingConfig(), model_id="x")
    assert default_margin.provider_cost_micros == 15_000_000


def test_j120_explicit_default_rate() -> None:
    priced = usage_to_credits(TokenUsage(1_000_000), PricingConfig(margin=1, default_rate=Rate(4, 8)),
                              model_id="zzz")
    assert (priced.billed_micros, priced.priced_from_default) == (4_000_000, True)


def test_j121_configured_rates_are_prepended_to_the_builtins() -> None:
    config = PricingConfig(margin=1, rates=(rule("my-model", 10, 20),), default_rate=Rate(1, 1))
    assert usage_to_credits(TokenUsage(1_000_000, 1_000_000), config, model_id="my-model").billed_micros == \
        30_000_000
    kimi = usage_to_credits(TokenUsage(1_000_000), config, model_id="kimi-k2")
    assert (kimi.billed_micros, kimi.priced_from_default) == (600_000, False)
    assert usage_to_credits(TokenUsage(1_000_000), config, model_id="zzz-unknown").billed_micros == 1_000_000


@pytest.mark.parametrize(("model", "per_million"), [
    ("claude-3-opus", 15_000_000), ("claude-opus-4", 15_000_000), ("claude-4-opus", 15_000_000),
    ("claude-opus-4-1", 15_000_000), ("claude-sonnet-4", 3_000_000), ("CLAUDE-SONNET-4", 3_000_000),
    ("claude-3-haiku-20240307", 250_000),
])
def test_j122_opus_never_gets_the_sonnet_rate(model: str, per_million: int) -> None:
    priced = usage_to_credits(TokenUsage(1_000_000), PricingConfig(margin=1), provider="anthropic", model_id=model)
    assert (priced.billed_micros, priced.priced_from_default) == (per_million, False)


def test_j123_provider_keyed_rule_matches_provider_slash_id() -> None:
    assert model_key("infomaniak", "Qwen/Qwen3.5") == "infomaniak/Qwen/Qwen3.5"
    assert model_key(None, None) == "unknown" and model_key("", "m") == "m"
    priced = usage_to_credits(TokenUsage(1_000_000), PricingConfig(margin=1, rates=(INFOMANIAK,)),
                              provider="infomaniak", model_id="Qwen/Qwen3.5")
    assert (priced.billed_micros, priced.priced_from_default) == (500_000, False)


def test_j124_cache_tokens_bill_at_the_input_rate() -> None:
    usage = TokenUsage(500_000, 0, cache_read_tokens=300_000, cache_write_tokens=200_000)
    assert usage_to_credits(usage, PricingConfig(margin=1), model_id="kimi-k2").billed_micros == 600_000


def test_j125_bad_tokens_clamp_to_zero() -> None:
    usage = TokenUsage(-50, float("nan"), cache_read_tokens=True, cache_write_tokens="7",
                       provider_reported_cost=-1)
    priced = usage_to_credits(usage, PricingConfig(prefer_provider_reported_cost=True), model_id="kimi-k2")
    assert (priced.input_tokens, priced.output_tokens, priced.cache_read_tokens, priced.cache_write_tokens) == \
        (0, 0, 0, 0)
    assert priced.billed_micros == 0
    assert [clamp_tokens(v) for v in (3.9, float("inf"), 0, None)] == [3, 0, 0, 0]


def test_j126_reported_cost_is_opt_in() -> None:
    usage = TokenUsage(1_000_000, provider_reported_cost=0.000001)
    assert usage_to_credits(usage, PricingConfig(margin=1), model_id="kimi-k2").billed_micros == 600_000
    preferred = usage_to_credits(TokenUsage(5, provider_reported_cost=0.01),
                                 PricingConfig(margin=1, prefer_provider_reported_cost=True), model_id="zzz")
    assert (preferred.billed_micros, preferred.priced_from_default) == (10_000, False)


def test_j127_max_rates() -> None:
    assert max_effective_rate(PricingConfig()) == Rate(15, 75)
    assert max_effective_rate(PricingConfig(rates=(INFOMANIAK,))) == Rate(15, 75)
    assert max_effective_rate(PricingConfig(rates=(rule("big", 20, 100),))) == Rate(20, 100)
    assert max_served_rate(PricingConfig(rates=(INFOMANIAK,))) == Rate(3, 15)


def test_zero_tokens_bill_nothing_and_worst_case_hold() -> None:
    assert usage_to_credits(TokenUsage(), PricingConfig(), model_id="claude-opus-4").billed_micros == 0
    expected = math.ceil((0.2 * 3 + 0.016384 * 15) * 4 * 1.3 * 1_000_000)
    assert worst_case_run_micros(PricingConfig(), Rate(3, 15)) == expected
