"""IdentityCache: filled under a version, dropped when the version moves, bypassed when it is None,
bounded (least recently used go first) and aged out."""

from __future__ import annotations

import asyncio

from localcore.auth.identity_cache import IdentityCache


class Source:
    def __init__(self) -> None:
        self.version: int | None = 1
        self.loads = 0
        self.value = "v1"

    async def __call__(self) -> int | None:
        return self.version

    async def load(self) -> str | None:
        self.loads += 1
        return self.value


async def test_hits_until_the_version_moves() -> None:
    source = Source()
    cache = IdentityCache(source)
    assert await cache.get_or_load("k", source.load) == "v1"
    assert await cache.get_or_load("k", source.load) == "v1"
    assert source.loads == 1 and cache.hits == 1
    source.value, source.version = "v2", 2
    assert await cache.get_or_load("k", source.load) == "v2"
    assert source.loads == 2


async def test_none_bypasses_and_drops_everything() -> None:
    source = Source()
    cache = IdentityCache(source)
    await cache.get_or_load("k", source.load)
    source.version = None
    for _ in range(3):
        assert await cache.get_or_load("k", source.load) == "v1"
    assert source.loads == 4 and cache.bypassed == 3 and len(cache) == 0
    source.version = 1  # the same number as before the outage still starts from empty
    await cache.get_or_load("k", source.load)
    assert source.loads == 5


async def test_none_results_are_not_kept() -> None:
    source = Source()
    cache = IdentityCache(source)
    source.value = None  # type: ignore[assignment]
    await cache.get_or_load("k", source.load)
    await cache.get_or_load("k", source.load)
    assert source.loads == 2


async def test_bounded_least_recently_used_first() -> None:
    source = Source()
    cache = IdentityCache(source, max_entries=2)
    await cache.get_or_load("a", source.load)
    await cache.get_or_load("b", source.load)
    await cache.get_or_load("a", source.load)  # a is now the most recent
    await cache.get_or_load("c", source.load)  # b goes
    assert len(cache) == 2
    loads = source.loads
    await cache.get_or_load("a", source.load)
    assert source.loads == loads
    await cache.get_or_load("b", source.load)
    assert source.loads == loads + 1


async def test_entries_age_out() -> None:
    now = [0.0]
    source = Source()
    cache = IdentityCache(source, ttl_seconds=10, monotonic=lambda: now[0])
    await cache.get_or_load("k", source.load)
    now[0] = 9.9
    await cache.get_or_load("k", source.load)
    assert source.loads == 1
    now[0] = 10.0
    await cache.get_or_load("k", source.load)
    assert source.loads == 2


async def test_a_load_overtaken_by_a_newer_version_is_not_kept() -> None:
    source = Source()
    cache = IdentityCache(source)
    started, release = asyncio.Event(), asyncio.Event()

    async def slow_load() -> str:
        started.set()
        await release.wait()
        return "old"

    slow = asyncio.ensure_future(cache.get_or_load("k", slow_load))
    await started.wait()
    source.version, source.value = 2, "new"
    assert await cache.get_or_load("other", source.load) == "new"  # the cache moves to version 2
    release.set()
    assert await slow == "old"
    assert await cache.get_or_load("k", source.load) == "new"
