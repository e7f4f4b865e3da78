"""The identity version on Postgres: migration 0005's counter row, read fresh for every caller.

The contract (``Backend.identity_version``) is that a caller sees every change committed before it called.
A read already on its way when the caller arrived may have taken its snapshot before such a commit, so it
cannot answer that caller; a read that starts after the call can (READ COMMITTED takes the snapshot when
the statement starts). :class:`SharedRead` keeps at most one read in flight and one queued behind it: a
caller starts a read when none is in flight, and otherwise joins the queued one, which starts the moment
the one in flight ends. (A read whose task has not yet sent its query is not "on its way": callers that
arrive before it does join it.) Under load one round trip answers every request that arrived during the previous
one, so the cost per request falls as the load rises; an idle process pays one small indexed read.

Why not ``LISTEN``/``NOTIFY`` alone: a notification is delivered some time after the writer's commit has
been acknowledged, and the writer's client can reach another process before it does — a revoked session
would be served once. A committed read has no such window.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable

from localcore.contract.errors import StorageUnavailable

READ_VERSION = "SELECT version FROM identity_version WHERE id = 1"


class SharedRead:
    """``await shared()`` → the value of a ``read()`` that started after this call; ``None`` when the
    storage is unreachable (the caller then reads the storage itself, which reports the outage)."""

    def __init__(self, read: Callable[[], Awaitable[int]]) -> None:
        self._read = read
        self._running: asyncio.Task[None] | None = None
        self._answer: asyncio.Future[int | None] | None = None  # the running read's
        self._sent = False  # whether the running read has sent its query
        self._queued: asyncio.Future[int | None] | None = None

    async def __call__(self) -> int | None:
        if self._running is None:
            answer: asyncio.Future[int | None] = asyncio.get_running_loop().create_future()
            self._start(answer)
        elif not self._sent and self._answer is not None:
            answer = self._answer
        else:
            if self._queued is None:
                self._queued = asyncio.get_running_loop().create_future()
            answer = self._queued
        # Shielded: one caller giving up (a client that hung up) must not cancel the others' read.
        return await asyncio.shield(answer)

    def _start(self, answer: asyncio.Future[int | None]) -> None:
        # Nobody may be left to look at a failure (every waiter gone): mark it seen so it is not logged.
        answer.add_done_callback(lambda f: f.cancelled() or f.exception())
        self._answer, self._sent = answer, False
        self._running = asyncio.ensure_future(self._run(answer))

    async def _run(self, answer: asyncio.Future[int | None]) -> None:
        self._sent = True  # from here on a new caller may predate the snapshot: it queues
        try:
            value: int | None = int(await self._read())
        except StorageUnavailable:
            value = None
        except asyncio.CancelledError:
            self._running = self._answer = None
            for pending in (answer, self._queued):
                if pending is not None:
                    pending.cancel()
            self._queued = None
            raise
        except Exception as exc:  # noqa: BLE001 - handed to every waiter of this read
            answer.set_exception(exc)
            self._next()
            return
        answer.set_result(value)
        self._next()

    def _next(self) -> None:
        queued, self._queued = self._queued, None
        self._running = self._answer = None
        if queued is not None:
            self._start(queued)

    async def close(self) -> None:
        """Cancel a read in flight (and the one queued); idempotent."""
        task = self._running
        if task is not None:
            task.cancel()
            await asyncio.gather(task, return_exceptions=True)
