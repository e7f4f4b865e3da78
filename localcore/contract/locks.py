"""In-process locks by key, for a backend (or a service) that lives in one process: the memory
backend's ledger locks, the per-user lock of the lazy default workspace."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from dataclasses import dataclass, field


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
