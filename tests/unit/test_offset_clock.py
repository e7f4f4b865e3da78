"""``OffsetClock``: the base clock plus an offset that only moves forward, or back to zero (the dev clock)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from localcore.clock import ManualClock, OffsetClock


def test_it_follows_its_base_clock_plus_the_offset() -> None:
    base = ManualClock(datetime(2026, 3, 1, tzinfo=UTC))
    clock = OffsetClock(base)
    assert clock() == base()
    assert clock.advance(90) == base() + timedelta(seconds=90)
    base.advance(seconds=10)  # the base keeps running underneath
    assert clock() == base() + timedelta(seconds=90) and clock.offset == timedelta(seconds=90)
    assert clock.reset() == base() and clock.offset == timedelta(0)


def test_it_never_moves_back() -> None:
    clock = OffsetClock(ManualClock())
    clock.advance(60)
    with pytest.raises(ValueError, match="only moves forward"):
        clock.advance(-1)
    assert clock.offset == timedelta(seconds=60)


def test_by_default_it_is_the_system_clock() -> None:
    clock = OffsetClock()
    before = datetime.now(UTC)
    assert before <= clock() <= datetime.now(UTC)
