"""Helpers shared by the ledger contract tests (``test_metering_*.py``); holds no tests itself.

Test names carry scenario names (docs/contract.md, "Ledger scenario names"). Every test runs on each backend the
``backend`` fixture yields (memory, SQLite, Postgres by default). Tests that need to look at raw rows use
``MeteringInspector``; a third-party backend without it skips those tests and says why.
"""

from __future__ import annotations

from datetime import datetime
from typing import cast

import pytest

from localcore.contract.ledger import MeteringInspector, MeteringStore
from localcore.store import Backend

U = "u"
V = "v"
TTL = 600
STALE_SECONDS = 601


def store(backend: Backend) -> MeteringStore:
    return backend.metering


def raw(backend: Backend) -> MeteringInspector:
    """The backend's raw-row window; skips the test when a third-party backend has none."""
    metering = backend.metering
    if not isinstance(metering, MeteringInspector):
        pytest.skip("this backend's metering store does not implement MeteringInspector (raw rows)")
    return cast(MeteringInspector, metering)


async def bal(backend: Backend, user: str = U, now: datetime | None = None) -> tuple[int, int, int, int, int]:
    """(granted, used, remaining, active_reserved, available)."""
    b = await backend.metering.get_balance(user, now=now)
    assert b.user_id == user
    assert b.remaining_micros == b.granted_micros - b.used_micros
    assert b.available_micros == b.remaining_micros - b.active_reserved_micros
    return (b.granted_micros, b.used_micros, b.remaining_micros, b.active_reserved_micros,
            b.available_micros)


async def remaining(backend: Backend, user: str = U) -> int:
    return (await backend.metering.get_balance(user)).remaining_micros


async def reservation_status(backend: Backend, reservation_id: str) -> str:
    row = await raw(backend).get_reservation(reservation_id)
    assert row is not None, reservation_id
    return row.status


async def refund_debits(backend: Backend, user: str = U) -> dict[str, int]:
    """The user's refund ledger rows: id -> billed."""
    rows = await raw(backend).list_usage(user)
    return {r.id: r.billed_cost_micros for r in rows if r.id.startswith("refund:")}
