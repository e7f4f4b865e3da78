"""SIGTERM and SIGINT for ``python -m localcore serve``, handled from the process's first moments.

``catch_early_signals`` runs in ``localcore.__main__`` before anything heavy is imported and only
remembers a signal; ``ShutdownSignals`` takes over on the event loop before the socket is bound and
replays what was remembered. So a signal at any point of the start ends in a graceful stop (exit 0),
never in the default handler's kill. During the stop, a second signal forces an immediate exit, as
uvicorn does.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import signal
from collections.abc import Coroutine
from types import FrameType
from typing import Any

log = logging.getLogger("localcore")
SIGNALS = (signal.SIGTERM, signal.SIGINT)
_early: list[signal.Signals] = []


def _remember(signum: int, frame: FrameType | None) -> None:
    _early.append(signal.Signals(signum))


def catch_early_signals() -> None:
    """Until the event loop takes over, remember SIGTERM/SIGINT instead of dying of them."""
    for sig in SIGNALS:
        signal.signal(sig, _remember)


def restore_default_signals() -> None:
    """For the commands that are not a server: a signal stops them as usual."""
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.default_int_handler)
    if _early:
        signal.raise_signal(_early[0])


class ShutdownSignals:
    """SIGTERM and SIGINT, handled from before the first byte is served: the first asks for a graceful
    stop (a signal that arrives while the server is still starting is kept, and the start ends in that
    stop, exit 0), a second one during the grace period forces an immediate exit, as uvicorn does."""

    def __init__(self) -> None:
        self.requested = asyncio.Event()
        self.forced = asyncio.Event()
        self._loop = asyncio.get_running_loop()
        for sig in SIGNALS:
            self._loop.add_signal_handler(sig, self._received, sig)
        for sig in _early:
            self._received(sig)
        _early.clear()

    def _received(self, sig: signal.Signals) -> None:
        if self.requested.is_set():
            log.warning("shutdown:forced (second %s)", sig.name)
            self.forced.set()
        else:
            self.requested.set()

    def remove(self) -> None:
        for sig in SIGNALS:
            self._loop.remove_signal_handler(sig)

    async def unless_forced(self, work: Coroutine[Any, Any, Any], limit_seconds: float) -> bool:
        """Run ``work`` for at most ``limit_seconds``; False (and ``work`` cancelled) when it failed, ran
        out of time, or a second signal forced the exit first."""
        task = asyncio.ensure_future(work)
        forced = asyncio.ensure_future(self.forced.wait())
        try:
            await asyncio.wait({task, forced}, timeout=limit_seconds, return_when=asyncio.FIRST_COMPLETED)
        finally:
            forced.cancel()
        if task.done():
            return task.exception() is None
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError, Exception):
            await task
        return False
