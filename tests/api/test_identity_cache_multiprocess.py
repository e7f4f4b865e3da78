"""The identity cache is never stale across processes: two real ``python -m localcore`` servers on one
SQLite file or one Postgres database; an identity change made through server A (sign-out, revoke,
revoke-others, password change and reset, account deletion, rename, settings, role change, workspace
rename, removal from a workspace) is what server B answers on its very next request — with B's cache
warm for that session beforehand, and while a load loop keeps B busy with other requests of its own
(its cache full and hot).
"""

from __future__ import annotations

import asyncio
import re
import time
from collections.abc import AsyncIterator, Iterator
from contextlib import ExitStack, asynccontextmanager
from pathlib import Path
from typing import Any
from urllib.parse import unquote

import aiohttp
import pytest

from localcore.testing.plugin import PostgresServer
from tests.api.auth_support import STRONG_PASSWORD
from tests.api.security_support import ServerProcess, running_server

NEW_PASSWORD = STRONG_PASSWORD + "-changed"
LOAD_CONCURRENCY = 4


class Browser:
    """One signed-in client that keeps its own session cookie (never replaced by a Set-Cookie that
    clears it, so a revoked cookie is really presented again)."""

    def __init__(self, http: aiohttp.ClientSession) -> None:
        self.http = http
        self.cookie = ""

    @property
    def token(self) -> str:
        value = unquote(self.cookie.split("=", 1)[1])
        return value.rpartition(".")[0]

    async def call(self, method: str, url: str, body: Any = None) -> tuple[int, Any]:
        headers = {"Cookie": self.cookie} if self.cookie else {}
        async with self.http.request(method, url, json=body, headers=headers) as response:
            data = await response.json(content_type=None) if response.content_length != 0 else None
            for name, morsel in response.cookies.items():
                if name.endswith("session_token") and morsel.value:
                    self.cookie = f"{name}={morsel.value}"
            return response.status, data


@pytest.fixture(params=["sqlite", "postgres"])
def database_env(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[dict[str, str]]:
    if request.param == "sqlite":
        yield {}  # both servers use the data dir's localcore.db
        return
    server: PostgresServer = request.getfixturevalue("postgres_server")
    url = asyncio.run(server.create_database())
    try:
        yield {"DATABASE_URL": url}
    finally:
        asyncio.run(server.drop_database(url))


@pytest.fixture
def servers(database_env: dict[str, str], tmp_path: Path) -> Iterator[tuple[ServerProcess, ServerProcess]]:
    args = ("--data-dir", str(tmp_path / "data"), "--port", "0", "--no-bootstrap")
    env = {"LOCALCORE_RATE_LIMITS": "off", **database_env}
    with ExitStack() as stack:
        a = stack.enter_context(running_server(*args, cwd=tmp_path, **env))
        b = stack.enter_context(running_server(*args, cwd=tmp_path, **env))
        yield a, b


@asynccontextmanager
async def client_session() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as http:
        yield http


async def _sign_up(http: aiohttp.ClientSession, server: str, email: str) -> Browser:
    browser = Browser(http)
    status, body = await browser.call("POST", f"{server}/auth/sign-up/email",
                                      {"name": "Ada", "email": email, "password": STRONG_PASSWORD})
    assert status == 200, body
    return browser


async def _sign_in(http: aiohttp.ClientSession, server: str, email: str, password: str = STRONG_PASSWORD) -> Browser:
    browser = Browser(http)
    status, body = await browser.call("POST", f"{server}/auth/sign-in/email", {"email": email, "password": password})
    assert status == 200, body
    return browser


async def _warm(browser: Browser, server: str) -> dict[str, Any]:
    """Two reads on ``server``: the second is answered from its cache."""
    for _ in range(2):
        status, body = await browser.call("GET", f"{server}/api/v1/me")
        assert status == 200, body
    return dict(body)


async def _me_status(browser: Browser, server: str) -> int:
    return (await browser.call("GET", f"{server}/api/v1/me"))[0]


class LoadLoop:
    """Keeps ``server`` busy with ``/api/v1/me`` of its own user; every answer must be 200."""

    def __init__(self, browser: Browser, server: str) -> None:
        self.browser = browser
        self.server = server
        self.answers: list[int] = []
        self._stop = asyncio.Event()
        self._tasks: list[asyncio.Task[None]] = []

    async def _run(self) -> None:
        while not self._stop.is_set():
            self.answers.append(await _me_status(self.browser, self.server))

    def __enter__(self) -> LoadLoop:
        self._tasks = [asyncio.get_running_loop().create_task(self._run()) for _ in range(LOAD_CONCURRENCY)]
        return self

    def __exit__(self, *exc: object) -> None:
        self._stop.set()

    async def stop(self) -> None:
        self._stop.set()
        await asyncio.gather(*self._tasks)


async def _reset_token(http: aiohttp.ClientSession, a: ServerProcess, email: str) -> str:
    line = a.wait_for_line(lambda text: "Dev mailbox:" in text)
    secret = re.search(r"token=(\S+)", line)
    assert secret is not None, line
    deadline = time.monotonic() + 10
    while True:
        async with http.get(f"{a.url}/api/dev/mail", params={"token": secret.group(1)}) as response:
            messages = (await response.json())["messages"]
        links = [link for m in messages if m["to"] == email for link in m["links"] if "/auth/reset-password/" in link]
        if links:
            return str(links[0]).split("/auth/reset-password/", 1)[1].split("?", 1)[0]
        assert time.monotonic() < deadline, messages
        await asyncio.sleep(0.05)


async def test_identity_changes_on_a_are_seen_by_b_at_once_under_load(
        servers: tuple[ServerProcess, ServerProcess]) -> None:
    a, b = (s.url for s in servers)
    async with client_session() as http:
        load = LoadLoop(await _sign_up(http, a, "load@example.com"), b)
        with load:
            await _scenarios(http, servers[0], a, b)
        await load.stop()
    assert len(load.answers) > 50, "the load loop hardly ran"
    assert set(load.answers) == {200}


async def _scenarios(http: aiohttp.ClientSession, a_server: ServerProcess, a: str, b: str) -> None:
    # sign-out
    ada = await _sign_up(http, a, "ada@example.com")
    await _warm(ada, b)
    assert (await ada.call("POST", f"{a}/auth/sign-out", {}))[0] == 200
    assert await _me_status(ada, b) == 401

    # revoke one session (by its token) from another session
    first, second = await _sign_in(http, a, "ada@example.com"), await _sign_in(http, a, "ada@example.com")
    await _warm(second, b)
    assert (await first.call("POST", f"{a}/auth/revoke-session", {"token": second.token}))[0] == 200
    assert await _me_status(second, b) == 401
    assert await _me_status(first, b) == 200

    # revoke the others
    other = await _sign_in(http, a, "ada@example.com")
    await _warm(other, b)
    await _warm(first, b)
    assert (await first.call("POST", f"{a}/auth/revoke-other-sessions", {}))[0] == 200
    assert await _me_status(other, b) == 401
    assert await _me_status(first, b) == 200

    # rename
    assert (await _warm(first, b))["user"]["name"] == "Ada"
    assert (await first.call("POST", f"{a}/auth/update-user", {"name": "Ada Lovelace"}))[0] == 200
    status, body = await first.call("GET", f"{b}/api/v1/me")
    assert status == 200 and body["user"]["name"] == "Ada Lovelace"

    # settings written on A are read on B
    assert (await first.call("PUT", f"{a}/api/v1/me/settings", {"displayName": "Countess"}))[0] == 200
    status, body = await first.call("GET", f"{b}/api/v1/me")
    assert status == 200 and body["settings"]["displayName"] == "Countess"

    # password change with revokeOtherSessions: every other session goes
    other = await _sign_in(http, a, "ada@example.com")
    await _warm(other, b)
    status, body = await first.call("POST", f"{a}/auth/change-password", {
        "currentPassword": STRONG_PASSWORD, "newPassword": NEW_PASSWORD, "revokeOtherSessions": True})
    assert status == 200, body
    assert await _me_status(other, b) == 401

    # password reset: every session goes
    current = await _sign_in(http, a, "ada@example.com", NEW_PASSWORD)
    await _warm(current, b)
    requested = await Browser(http).call("POST", f"{a}/auth/request-password-reset", {"email": "ada@example.com"})
    assert requested[0] == 200
    token = await _reset_token(http, a_server, "ada@example.com")
    status, body = await Browser(http).call("POST", f"{a}/auth/reset-password",
                                            {"token": token, "newPassword": STRONG_PASSWORD})
    assert status == 200, body
    assert await _me_status(current, b) == 401

    # role change: Bob's role in Ada's workspace, read on B
    ada = await _sign_in(http, a, "ada@example.com")
    bob = await _sign_up(http, a, "bob@example.com")
    status, created = await ada.call("POST", f"{a}/api/v1/workspaces", {"name": "Shared"})
    assert status == 201, created
    workspace = created["workspace"]["id"]
    bob_id = (await _warm(bob, b))["user"]["id"]
    status, body = await ada.call("POST", f"{a}/api/v1/workspaces/{workspace}/members",
                                  {"userId": bob_id, "role": "viewer"})
    assert status == 201, body
    for role in ("editor", "viewer"):
        await bob.call("GET", f"{b}/api/v1/workspaces/{workspace}")
        status, body = await ada.call("PATCH", f"{a}/api/v1/workspaces/{workspace}/members/{bob_id}/role",
                                      {"role": role})
        assert status == 200, body
        status, body = await bob.call("GET", f"{b}/api/v1/workspaces/{workspace}")
        assert status == 200 and body["role"] == role, body
    assert (await ada.call("PUT", f"{a}/api/v1/workspaces/{workspace}", {"name": "Renamed"}))[0] == 200
    status, body = await bob.call("GET", f"{b}/api/v1/workspaces/{workspace}")
    assert status == 200 and body["workspace"]["name"] == "Renamed", body
    status, body = await ada.call("DELETE", f"{a}/api/v1/workspaces/{workspace}/members/{bob_id}")
    assert status == 200, body
    assert (await bob.call("GET", f"{b}/api/v1/workspaces/{workspace}"))[0] == 403

    # account deletion
    await _warm(bob, b)
    status, body = await bob.call("DELETE", f"{a}/api/v1/me", {"confirm": "bob@example.com"})
    assert status == 200, body
    assert await _me_status(bob, b) == 401
