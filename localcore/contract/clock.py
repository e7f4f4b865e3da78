"""Time for the whole system comes from one injectable clock.

Every TTL (sessions, tokens, invites, reservations, rate-limit windows) reads a ``Clock`` so tests can move
time without sleeping.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, timedelta

Clock = Callable[[], datetime]


def system_clock() -> datetime:
    """The wall clock as an aware UTC datetime."""
    return datetime.now(UTC)


def iso(value: datetime | None) -> str | None:
    """JavaScript ``toISOString()`` format: ``2026-01-01T00:00:00.000Z`` (milliseconds, Z suffix)."""
    if value is None:
        return None
    value = value.astimezone(UTC)
    return value.strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


class OffsetClock:
    """A base clock (the system clock by default) moved forward by an adjustable offset: the dev clock.

    ``python -m localcore`` gives the same ``OffsetClock`` to the backend and to ``create_app``, so moving it
    (``POST /api/dev/clock``, development only) moves every TTL at once: sessions, one-time tokens, invites,
    reservations, rate-limit windows. The offset only ever moves time forward (``advance`` refuses a
    negative amount) or back to the base clock (``reset``); it lives in this process only.
    """

    def __init__(self, base: Clock = system_clock) -> None:
        self.base = base
        self.offset = timedelta(0)

    def __call__(self) -> datetime:
        return self.base() + self.offset

    def advance(self, seconds: float) -> datetime:
        """Move the clock ``seconds`` (>= 0) forward; returns the new now."""
        if seconds < 0:
            raise ValueError("the dev clock only moves forward (reset() returns to the base clock)")
        self.offset += timedelta(seconds=seconds)
        return self()

    def reset(self) -> datetime:
        """Back to the base clock (offset 0); returns the new now."""
        self.offset = timedelta(0)
        return self()


class ManualClock:
    """A clock tests can move: ``clock.advance(seconds=30)``."""

    def __init__(self, start: datetime | None = None) -> None:
        self.now = start or datetime(2026, 1, 1, tzinfo=UTC)

    def __call__(self) -> datetime:
        return self.now

    def advance(self, **delta: float) -> datetime:
        self.now = self.now + timedelta(**delta)
        return self.now
