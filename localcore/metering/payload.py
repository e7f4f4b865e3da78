"""Defensive readers for provider webhook payloads (shared by the Lemon Squeezy and Stripe handlers).

A field of the wrong type reads as absent, never as a coerced value: the decision tables then take their
fail-closed branch instead of crediting on a misread amount.
"""

from __future__ import annotations

import math
from typing import Any


def as_object(value: object) -> dict[str, Any] | None:
    return value if isinstance(value, dict) else None


def as_text(value: object) -> str | None:
    return value if isinstance(value, str) and value else None


def as_number(value: object) -> float | None:
    """A finite JSON number (never a bool); anything else is absent."""
    if isinstance(value, bool) or not isinstance(value, int | float):
        return None
    return value if math.isfinite(value) else None
