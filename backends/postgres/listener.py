"""The identity version on Postgres: a ``LISTEN`` connection of its own, plus this process's commits.

Migration 0005's triggers advance ``identity_version_seq`` and ``pg_notify('localcore_identity')`` from
every transaction that changes what an identity is built from; Postgres delivers the notification to
every listening connection when that transaction commits. :class:`IdentityListener` keeps a generation
number that moves on

- every notification received;
- every write transaction this process commits (its own notification arrives a moment later, and the
  process's next request must not wait for it);
- a (re)connect that finds the sequence elsewhere than where it last saw it — a notification sent
  while no connection was listening is never delivered, and the sequence is how that is noticed;
- a periodic re-read of the sequence that finds it moved (:data:`RECHECK_SECONDS`), which also notices
  a connection that died without telling us (no notification can arrive over it).

While the connection is down, not yet connected, or not yet re-checked, :meth:`current` is ``None``:
callers must read the storage itself, so a notification missed during an outage can never leave a
revoked session usable. The connection is opened on the first call (a backend that is never asked
opens none) and carries ``application_name`` :data:`APPLICATION_NAME`.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
from typing import Any

import asyncpg

CHANNEL = "localcore_identity"
APPLICATION_NAME = "localcore-identity-listener"
#: How often a connected listener re-reads the sequence (a connection that dies silently is noticed here).
RECHECK_SECONDS = 1.0
#: A re-check or connect that takes longer than this counts as a lost connection.
TIMEOUT_SECONDS = 2.0
RETRY_SECONDS = (0.05, 0.2, 0.5, 1.0)
_READ = "SELECT CASE WHEN is_called THEN last_value ELSE 0 END FROM identity_version_seq"

log = logging.getLogger("localcore.storage")


class IdentityListener:
    def __init__(self, dsn: str) -> None:
        self._dsn = dsn
        self._generation = 0
        self._sequence: int | None = None  # the sequence as last read
        self._conn: asyncpg.Connection | None = None  # listening and checked
        self._pending: asyncpg.Connection | None = None  # opened, perhaps not yet checked
        self._task: asyncio.Task[None] | None = None
        self._lost = asyncio.Event()
        self._closed = False

    @property
    def connected(self) -> bool:
        conn = self._conn
        return conn is not None and not conn.is_closed()

    def current(self) -> int | None:
        """The generation, or None while not listening (see the module docstring)."""
        if self._task is None and not self._closed:
            self._task = asyncio.get_running_loop().create_task(self._run())
        return self._generation if self.connected else None

    def committed(self) -> None:
        """This process committed a write transaction (it may have changed an identity)."""
        self._generation += 1

    def _notified(self, *_: Any) -> None:
        self._generation += 1

    def _terminated(self, *_: Any) -> None:
        self._lost.set()

    async def _run(self) -> None:
        failures = 0
        while not self._closed:
            try:
                await self._listen()
                failures = 0
            except asyncio.CancelledError:
                raise
            except Exception as exc:  # noqa: BLE001 - any failure: not listening, try again
                if failures == 0:
                    log.warning("storage: identity listener lost (%s); caches are bypassed until it is back",
                                type(exc).__name__)
                failures += 1
            finally:
                await self._drop()
            await asyncio.sleep(RETRY_SECONDS[min(failures, len(RETRY_SECONDS) - 1)])

    async def _listen(self) -> None:
        self._lost.clear()
        conn = await asyncpg.connect(self._dsn, timeout=TIMEOUT_SECONDS,
                                     server_settings={"application_name": APPLICATION_NAME})
        self._pending = conn
        conn.add_termination_listener(self._terminated)
        await conn.add_listener(CHANNEL, self._notified)
        # LISTEN is in effect now: every later commit is notified; every earlier one is in the sequence.
        async with asyncio.timeout(TIMEOUT_SECONDS):
            self._observe(await conn.fetchval(_READ))
        self._conn = conn
        # ``asyncio.timeout``, not ``wait_for``: on Python 3.11 ``wait_for`` can swallow a cancellation that
        # lands as its inner future completes, and this loop would then outlive ``close()`` (a hang seen in
        # the suite); the ``_closed`` check ends it even so.
        while not self._closed:
            with contextlib.suppress(TimeoutError):
                async with asyncio.timeout(RECHECK_SECONDS):
                    await self._lost.wait()
            if self._lost.is_set() or conn.is_closed():
                raise ConnectionError("listener connection closed")
            async with asyncio.timeout(TIMEOUT_SECONDS):
                self._observe(await conn.fetchval(_READ))

    def _observe(self, sequence: int) -> None:
        if sequence != self._sequence:
            self._sequence = sequence
            self._generation += 1

    async def _drop(self) -> None:
        conn, self._conn, self._pending = self._pending, None, None
        if conn is not None and not conn.is_closed():
            with contextlib.suppress(Exception):
                async with asyncio.timeout(TIMEOUT_SECONDS):
                    await conn.close()
            if not conn.is_closed():
                conn.terminate()

    async def close(self) -> None:
        self._closed = True
        task, self._task = self._task, None
        if task is not None:
            task.cancel()
            # Bounded: a close must never hang a shutdown, whatever the task is waiting on.
            await asyncio.wait({task}, timeout=TIMEOUT_SECONDS)
            if task.done() and not task.cancelled():
                task.exception()  # retrieved: a failure while closing is not worth a warning
        await self._drop()
