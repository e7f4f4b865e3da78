"""Retention: events older than ``audit_retention_days`` (``[audit] retention_days`` /
``AUDIT_RETENTION_DAYS``, default 365) are deleted in the background, once at start-up and then every
hour, by the app clock. Every process sweeps; deleting the same old rows twice is harmless."""

from __future__ import annotations

import asyncio
import contextlib
import logging
from collections.abc import AsyncIterator
from datetime import timedelta

from aiohttp import web

from localcore.appkeys import BACKEND, CLOCK, CONFIG
from localcore.clock import Clock
from localcore.store import Backend

log = logging.getLogger("localcore.audit")
SWEEP_INTERVAL_SECONDS = 3600.0


async def sweep_once(backend: Backend, clock: Clock, retention_days: int) -> int:
    """Delete the events older than the retention; returns how many went."""
    return await backend.audit.sweep(clock() - timedelta(days=retention_days))


async def _sweep_forever(backend: Backend, clock: Clock, retention_days: int, interval: float) -> None:
    while True:
        try:
            swept = await sweep_once(backend, clock, retention_days)
        except Exception as exc:  # noqa: BLE001 - housekeeping must never stop the server
            log.warning("audit: retention sweep failed (%s)", type(exc).__name__)
        else:
            if swept:
                log.info("audit: swept %d event(s) older than %d days", swept, retention_days)
        await asyncio.sleep(interval)


async def audit_sweep_lifecycle(app: web.Application) -> AsyncIterator[None]:
    sweeper = asyncio.create_task(_sweep_forever(app[BACKEND], app[CLOCK], app[CONFIG].audit_retention_days,
                                                 SWEEP_INTERVAL_SECONDS))
    try:
        yield
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
