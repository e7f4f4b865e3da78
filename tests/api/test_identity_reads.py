"""One identity-version read per request: the session, the per-app settings, the membership and the
workspace list of one request are all looked up under the version its session was resolved under (on
Postgres each read is a round trip), whether the lookups hit the cache or fill it. Every backend."""

from __future__ import annotations

from collections.abc import Awaitable, Callable

import pytest

from localcore.auth.keys import IDENTITY_CACHE
from localcore.testing.app_client import LocalcoreClient

ROUTES = [
    "/api/v1/me",
    "/api/v1/workspaces",
    "/api/v1/workspaces/{workspace}",
    "/api/v1/workspaces/{workspace}/members",
    "/api/v1/workspaces/{workspace}/audit",
]


class CountedVersion:
    def __init__(self, read: Callable[[], Awaitable[int | None]]) -> None:
        self.read = read
        self.calls = 0

    async def __call__(self) -> int | None:
        self.calls += 1
        return await self.read()


@pytest.mark.parametrize("route", ROUTES)
async def test_a_request_reads_the_identity_version_once(localcore_client: LocalcoreClient, route: str) -> None:
    user = await localcore_client.sign_up()
    cache = localcore_client.app[IDENTITY_CACHE]
    counted = CountedVersion(cache._version)
    cache._version = counted
    path = route.format(workspace=user.workspace_id)
    for warmth in ("cold", "warm"):
        if warmth == "cold":
            cache.clear()
        before = counted.calls
        status, body = await localcore_client.call("GET", path)
        assert status == 200, body
        assert counted.calls - before == 1, f"{path} ({warmth} cache) read the version {counted.calls - before} times"
