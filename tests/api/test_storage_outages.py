"""A storage that goes away is answered honestly: 503 in the route family's envelope, fast, without a
stack trace per request, and the server recovers by itself when the storage is back.

Postgres is really stopped (``pg_ctl stop -m fast``) and started again on a cluster of this module's own,
so the session's shared cluster is not disturbed; the SQLite write lock is really held by a second
connection, as another process would hold it.
"""

from __future__ import annotations

import asyncio
import json
import logging
import sqlite3
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from backends import open_backend
from localcore import create_app
from localcore.auth import AUTH_SERVICE
from localcore.store import Backend
from localcore.testing.pgcluster import ThrowawayCluster
from tests.api.auth_support import STRONG_PASSWORD, make_config

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]
ANSWER_WITHIN_SECONDS = 3.0
#: The routes an outage report named, with the family each answers in.
ROUTES = [
    ("GET", "/api/v1/me", None, "core"),
    ("GET", "/api/v1/workspaces", None, "core"),
    ("POST", "/api/v1/workspaces", {"name": "During the outage"}, "core"),
    ("GET", "/api/credits/balance", None, "nested"),
    ("POST", "/auth/sign-in/email", {"email": "ada@example.com", "password": STRONG_PASSWORD}, "auth"),
    ("GET", "/auth/get-session", None, "auth"),
    ("GET", "/health", None, "core"),
]


def code_of(body: dict[str, Any], family: str) -> str:
    if family == "nested":
        return str(body["error"]["code"])
    return str(body["code"])


@pytest.fixture(scope="module")
def cluster() -> Iterator[ThrowawayCluster]:
    own = ThrowawayCluster()
    own.start()
    try:
        yield own
    finally:
        own.stop()


@pytest.fixture
async def pg_backend(cluster: ThrowawayCluster) -> AsyncIterator[Backend]:
    backend = await open_backend(cluster.url)
    try:
        yield backend
    finally:
        await backend.close()


async def _signed_in(aiohttp_client: ClientFactory, backend: Backend) -> TestClient[Any, Any]:
    client = await aiohttp_client(create_app(make_config(), backend))
    response = await client.post("/auth/sign-up/email", json={
        "name": "Ada", "email": f"ada-{time.monotonic_ns()}@example.com", "password": STRONG_PASSWORD})
    assert response.status == 200, await response.text()
    assert (await client.get("/api/v1/me")).status == 200
    await client.app[AUTH_SERVICE].drain()  # the sign-up's background mail is written
    return client


async def test_a_stopped_postgres_is_a_fast_503_everywhere_then_recovers(
        aiohttp_client: ClientFactory, pg_backend: Backend, cluster: ThrowawayCluster,
        caplog: pytest.LogCaptureFixture) -> None:
    client = await _signed_in(aiohttp_client, pg_backend)
    caplog.set_level(logging.INFO)
    await asyncio.to_thread(cluster.pause)
    try:
        # The identity cache's check answers "cannot vouch" (the cache is bypassed), not an error.
        assert await pg_backend.identity_version() is None
        for _ in range(2):  # twice: the second round must not log the outage again
            for method, path, body, family in ROUTES:
                started = time.monotonic()
                response = await client.request(method, path, json=body)
                elapsed = time.monotonic() - started
                payload = await response.json()
                assert (response.status, code_of(payload, family)) == (503, "db_unavailable"), (path, payload)
                assert elapsed < ANSWER_WITHIN_SECONDS, (path, elapsed)
                assert "Error" not in json.dumps(payload), payload  # no exception class names
        log = caplog.text
        assert "Traceback" not in log
        assert log.count("database unavailable") == 1
    finally:
        await asyncio.to_thread(cluster.resume)
    deadline = time.monotonic() + 15
    while (await client.get("/api/v1/me")).status != 200:
        assert time.monotonic() < deadline, "did not recover after the database came back"
        await asyncio.sleep(0.2)
    assert (await client.get("/health")).status == 200
    assert caplog.text.count("database available again") == 1
    assert isinstance(await pg_backend.identity_version(), int)


async def test_a_write_lock_held_past_the_busy_timeout_is_a_503_db_busy(
        aiohttp_client: ClientFactory, tmp_path: Path) -> None:
    path = tmp_path / "busy.db"
    backend = await open_backend(f"sqlite:///{path}")
    try:
        client = await _signed_in(aiohttp_client, backend)
        other = sqlite3.connect(path, isolation_level=None, timeout=5)  # another process's connection
        try:
            other.execute("BEGIN IMMEDIATE")  # holds the database write lock
            response = await client.post("/api/v1/workspaces", json={"name": "Blocked"})
            body = await response.json()
            assert (response.status, body["code"]) == (503, "db_busy"), body
            reads = await client.get("/api/v1/me")  # WAL: readers are not blocked by the writer
            assert reads.status == 200
        finally:
            other.execute("ROLLBACK")
            other.close()
        retried = await client.post("/api/v1/workspaces", json={"name": "Unblocked"})
        assert retried.status == 201
        names = [w["name"] for w in (await (await client.get("/api/v1/workspaces")).json())["workspaces"]]
        assert "Blocked" not in names and "Unblocked" in names  # the refused write left nothing behind
        await client.close()
    finally:
        await backend.close()
