"""The identity cache: session+user and per-app settings kept in the process, never served stale.

Every lookup first asks the backend for its identity version (``Backend.identity_version``: a committed
counter row that every identity write bumps in its own transaction — read on the event-loop thread on
SQLite, one read shared by the concurrent requests of a process on Postgres — or an integer on memory),
*then* reads the cache. A version other than the one the entries were filled under drops them all, so a
sign-out, revocation, password change or reset, account deletion, rename, settings write or membership
change committed by any process before the request arrived is seen by that request. A version of ``None``
(the backend cannot vouch: the storage is unreachable) bypasses the cache altogether. The version is read
before the data it tags, so data filled under a version is at least as new as that version: a change
landing in between moves the version and the next lookup drops it.

What the cache does not change: the session rules (``sessions.py``) are applied to the cached row on
every request — expiry against the clock, the once-a-day sliding refresh (whose write moves the version),
``remember`` — exactly as to a row just read. Entries live at most :data:`TTL_SECONDS` (far below the
refresh interval, so no refresh decision waits on it) and there are at most :data:`MAX_ENTRIES` of them
(least recently used go first). Unknown tokens are never cached.
"""

from __future__ import annotations

import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from typing import Any, TypeVar

T = TypeVar("T")
MAX_ENTRIES = 10_000
#: Upper bound on an entry's age: a backstop, not the freshness mechanism (the version is).
TTL_SECONDS = 60.0
VersionSource = Callable[[], Awaitable[int | None]]


class IdentityCache:
    def __init__(self, version: VersionSource, *, max_entries: int = MAX_ENTRIES,
                 ttl_seconds: float = TTL_SECONDS, monotonic: Callable[[], float] = time.monotonic) -> None:
        self._version = version
        self._max = max_entries
        self._ttl = ttl_seconds
        self._monotonic = monotonic
        self._entries: OrderedDict[Hashable, tuple[float, Any]] = OrderedDict()
        self._filled_under: int | None = None
        self.hits = 0
        self.misses = 0
        self.bypassed = 0

    def __len__(self) -> int:
        return len(self._entries)

    def clear(self) -> None:
        self._entries.clear()

    async def view(self) -> CacheView:
        """The cache as of the identity version read now: one read for every lookup of one request."""
        return CacheView(self, await self._version())

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[T | None]]) -> T | None:
        """The cached value of ``key``, or ``load()``'s (kept unless it is None)."""
        return await (await self.view()).get_or_load(key, load)

    async def _lookup(self, version: int | None, key: Hashable, load: Callable[[], Awaitable[T | None]]) -> T | None:
        if version is None:
            self.bypassed += 1
            self._entries.clear()
            self._filled_under = None
            return await load()
        filled = self._filled_under
        if filled is not None and version < filled:  # an older view than the entries: read through
            self.bypassed += 1
            return await load()
        if version != filled:
            self._entries.clear()
            self._filled_under = version
        now = self._monotonic()
        entry = self._entries.get(key)
        if entry is not None:
            if entry[0] > now:
                self._entries.move_to_end(key)
                self.hits += 1
                value: T = entry[1]
                return value
            del self._entries[key]
        self.misses += 1
        loaded = await load()
        # Another lookup may have moved to a newer version while this one waited for the storage; an
        # entry tagged with an older version would be dropped by the next lookup anyway, so skip it here.
        if loaded is not None and self._filled_under == version:
            self._entries[key] = (now + self._ttl, loaded)
            if len(self._entries) > self._max:
                self._entries.popitem(last=False)
        return loaded


class CacheView:
    """Lookups under one identity version read (a request's): its data is at least as new as that read,
    and a later version met by any lookup drops what was filled under an older one."""

    __slots__ = ("_cache", "version")

    def __init__(self, cache: IdentityCache, version: int | None) -> None:
        self._cache = cache
        self.version = version

    async def get_or_load(self, key: Hashable, load: Callable[[], Awaitable[T | None]]) -> T | None:
        return await self._cache._lookup(self.version, key, load)
