"""The ledger's locks: the key each write takes, in which order, and a registry of in-process locks by key.

Every write whose rule depends on a balance holds the buyer's or spender's *user lock*
(``users.user_lock_key``); a purchase's grant and refunds hold its *order lock*, always taken before the
user lock (never the reverse, so two writers can never wait for each other). Account deletion holds the
user lock too, so a deletion cannot interleave with a reservation. SQL backends take these keys as
transaction-scoped locks (``Database.lock``); a backend that lives in one process holds them in a
``KeyedLocks``.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


def order_lock(order_id: str) -> str:
    """The key a purchase's grant and refunds hold, always before the buyer's user lock."""
    return "order:" + order_id


@dataclass(slots=True)
class _Entry:
    lock: asyncio.Lock = field(default_factory=asyncio.Lock)
    users: int = 0  # holders and waiters


class KeyedLocks:
    """``asyncio`` locks by key, each created on first use and dropped as soon as nobody holds or waits
    for it: the registry is as large as the set of keys in use, not the set of users and orders ever
    seen. One event loop only."""

    def __init__(self) -> None:
        self._entries: dict[str, _Entry] = {}

    def __len__(self) -> int:
        """How many keys are held or waited for right now."""
        return len(self._entries)

    @asynccontextmanager
    async def hold(self, key: str) -> AsyncIterator[None]:
        """Hold ``key`` for the ``async with`` block, waiting for the current holder if there is one."""
        entry = self._entries.setdefault(key, _Entry())
        entry.users += 1
        try:
            async with entry.lock:
                yield
        finally:  # also when the wait was cancelled
            entry.users -= 1
            if entry.users == 0:
                del self._entries[key]
