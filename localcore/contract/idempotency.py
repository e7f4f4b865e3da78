"""Claim-first idempotency records (``Idempotency-Key``): one winner per key, replays see its response."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol


@dataclass(frozen=True, slots=True)
class IdempotencyRecord:
    """``status`` is ``"pending"`` while the first request runs, ``"done"`` once its response is stored."""

    key: str
    status: str
    response_status: int | None
    response_body: Any
    created_at: datetime


class IdempotencyStore(Protocol):
    async def claim(self, key: str, *, now: datetime, ttl_seconds: int = 86400) -> IdempotencyRecord | None:
        """Claim ``key`` for a first run. Returns None when this caller now owns it (a ``pending`` row was
        written), else the existing record (``pending``: another request is running; ``done``: replay).
        Records older than ``ttl_seconds`` are treated as absent and replaced."""

    async def complete(self, key: str, *, status: int, body: Any) -> None:
        """Store the response of the claimed key (status becomes ``done``)."""

    async def release(self, key: str) -> None:
        """Drop a pending claim (the handler failed before producing a cacheable response)."""

    async def sweep(self, older_than: datetime) -> int:
        """Delete records created before ``older_than``."""
