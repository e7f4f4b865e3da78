"""Fixed-window counters shared by every process on the backend (rate limits, failed sign-ins)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Protocol


@dataclass(frozen=True, slots=True)
class RateLimitHit:
    """The state of one fixed-window counter after a hit."""

    count: int
    reset_at: datetime


class RateLimitStore(Protocol):
    async def hit(self, key: str, *, window_seconds: float, now: datetime) -> RateLimitHit:
        """Count one request against the fixed window of ``key`` and return the new count and when the
        window resets. Atomic across every process sharing the backend."""

    async def release(self, key: str, hit: RateLimitHit) -> None:
        """Take back one count of ``hit`` (the request turned out not to count, e.g. a sign-in that
        succeeded), only while ``hit``'s window is still the current one and never below zero. Counting
        first and taking back later keeps a limit exact under concurrency, where a read-then-count would
        let every concurrent request through."""
