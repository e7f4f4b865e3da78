"""The shared ledger rules (no backend): boring-core's opaque-id and rounding vectors, half-up rounding, validation."""

from __future__ import annotations

import math
from decimal import Decimal
from fractions import Fraction

import pytest

from localcore.contract import rules_ledger as rules
from localcore.contract.ledger import MeteringValidationError


@pytest.mark.parametrize(("text", "digest"), [
    ("", "811c9dc5"), ("a", "e40c292c"), ("led-u1", "d2869c53"), ("pi-usage:s1:message:a1", "a83ba671"),
    ("é", "6c0b6c44"), ("€", "a93e2c4b"),
])
def test_fnv1a32_over_utf16_code_units(text: str, digest: str) -> None:
    assert rules.fnv1a32_hex(text) == digest


def test_view_ids() -> None:
    assert rules.usage_view_id("led-u1") == "u_d2869c53"
    assert rules.grant_view_id("a") == "g_e40c292c"
    value = 0x811C9DC5
    for unit in (0xD83D, 0xDE00):  # an astral character is two UTF-16 code units, as in JS
        value = ((value ^ unit) * 0x01000193) & 0xFFFFFFFF
    assert rules.fnv1a32_hex("😀") == f"{value:08x}"


@pytest.mark.parametrize(("value", "expected"), [(Fraction(5, 2), 3), (Fraction(1, 2), 1), (Fraction(0), 0),
                                                 (Fraction(149, 100), 1), (Fraction(3, 2), 2)])
def test_round_half_up(value: Fraction, expected: int) -> None:
    assert rules.round_half_up(value) == expected


@pytest.mark.parametrize(("credited", "fraction", "target"), [
    (5, 0.5, 3), (10_000_000, 0.3, 3_000_000), (10_000_000, 1.5, 10_000_000), (100, 0.145, 15),
    (10, 0, 0), (7, 1, 7), (2**53 - 1, 0.5, 2**52), (3, Decimal("0.5"), 2),
])
def test_refund_target(credited: int, fraction: object, target: int) -> None:
    assert rules.refund_target(credited, rules.exact_fraction(fraction)) == target


def test_ppm() -> None:
    assert rules.fraction_to_ppm(rules.exact_fraction(0.5)) == 500_000
    assert rules.fraction_to_ppm(rules.exact_fraction(0.0000005)) == 1  # half-up
    assert rules.ppm_share(10_000_000, 500_000) == 5_000_000
    assert rules.ppm_share(5, 500_000) == 3
    assert rules.ppm_share(5, 2_000_000) == 5


@pytest.mark.parametrize("bad", [-0.1, math.nan, math.inf, True, "0.5", None, Decimal("NaN")])
def test_fraction_validation(bad: object) -> None:
    with pytest.raises(MeteringValidationError, match="non-negative number"):
        rules.exact_fraction(bad)


@pytest.mark.parametrize(("value", "ok"), [(1, True), (2**53 - 1, True), (2**53, False), (0, False),
                                           (True, False), (1.0, False), (-3, False)])
def test_positive_safe_integers(value: object, ok: bool) -> None:
    if ok:
        assert rules.require_positive(value, "x") == value
    else:
        with pytest.raises(MeteringValidationError, match="positive integer"):
            rules.require_positive(value, "x")


@pytest.mark.parametrize(("limit", "cap"), [(0, 1), (-1, 1), (20, 20), (999, 50), (7.9, 7), (math.nan, 1),
                                            (math.inf, 1), ("5", 1), (True, 1)])
def test_ledger_limit(limit: object, cap: int) -> None:
    assert rules.clamp_ledger_limit(limit) == cap


def test_reservation_tag_as_text() -> None:
    assert rules.reservation_tag(None) is None
    assert rules.reservation_tag({"reservationId": None}) is None
    assert rules.reservation_tag({"reservationId": "r"}) == "r"
    assert rules.reservation_tag({"reservationId": 5}) == "5"
