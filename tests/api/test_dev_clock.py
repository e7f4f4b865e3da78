"""The dev clock: ``GET``/``POST /api/dev/clock`` moves the server's one clock (every TTL reads it), in
development with console mail and the dev-mailbox secret only; elsewhere the 404 of a closed mailbox.

Sessions, invites and credits holds lapse when it passes their TTL. Runs over the shipped
``localcore_client`` fixture, whose app and backend share an ``OffsetClock`` as ``python -m localcore``
wires them, on memory, SQLite and Postgres.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import timedelta
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from localcore import create_app, load_config
from localcore.app import build_mailer
from localcore.clock import Clock, ManualClock, OffsetClock, iso
from localcore.metering.feature import CREDITS
from localcore.store import Backend
from localcore.testing.app_client import LocalcoreClient
from localcore.testing.app_fixtures import TEST_ENV

CLOCK = "/api/dev/clock"
KEY = {"x-dev-mailbox-token": TEST_ENV["DEV_MAILBOX_TOKEN"]}
DAY = 24 * 3600


async def move(client: LocalcoreClient, body: Any, *, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    async with client.post(CLOCK, json=body, headers=KEY if headers is None else headers) as response:
        return response.status, await response.json()


async def test_get_shows_no_offset_and_the_servers_now(localcore_client: LocalcoreClient, clock: ManualClock) -> None:
    async with localcore_client.get(CLOCK, headers=KEY) as response:
        assert response.status == 200
        assert await response.json() == {"offsetSeconds": 0, "now": iso(clock())}


async def test_advance_adds_up_and_reset_returns_to_the_wall_clock(localcore_client: LocalcoreClient,
                                                                    clock: ManualClock) -> None:
    assert await move(localcore_client, {"advanceSeconds": 90}) == (
        200, {"offsetSeconds": 90, "now": iso(clock() + timedelta(seconds=90))})
    assert await move(localcore_client, {"advanceSeconds": 10}) == (
        200, {"offsetSeconds": 100, "now": iso(clock() + timedelta(seconds=100))})
    async with localcore_client.get(CLOCK, params={"token": TEST_ENV["DEV_MAILBOX_TOKEN"]}) as response:
        assert (await response.json())["offsetSeconds"] == 100
    assert await move(localcore_client, {"reset": True}) == (200, {"offsetSeconds": 0, "now": iso(clock())})


async def test_an_invite_expires_when_the_clock_passes_its_ttl(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    bob = await localcore_client.signed_in("bob@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    status, body = await ada.call("POST", f"/api/v1/workspaces/{ada.user.workspace_id}/invites",
                                  {"email": "bob@example.com", "role": "viewer"})
    assert status == 201, body
    token = (await bob.last_mail("bob@example.com", "invit")).link("/invites/").rsplit("/", 1)[-1]
    assert (await bob.call("POST", "/api/v1/invites/resolve", {"token": token}))[0] == 200

    assert (await move(localcore_client, {"advanceSeconds": 7 * DAY}))[0] == 200  # the default 7-day TTL

    status, body = await bob.call("POST", "/api/v1/invites/accept", {"token": token})
    assert (status, body["code"]) == (410, "invite_expired")


async def test_a_session_ends_when_the_clock_passes_its_ttl(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    assert (await ada.call("GET", "/api/v1/me"))[0] == 200
    assert (await move(localcore_client, {"advanceSeconds": 30 * DAY + 1}))[0] == 200  # the 30-day TTL
    status, body = await ada.call("GET", "/api/v1/me")
    assert (status, body.get("code")) == (401, "unauthorized"), body


async def test_a_credits_hold_lapses_when_the_clock_passes_its_ttl(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None
    await ada.app[CREDITS].service.reserve_run(ada.user.id, "run-left-open")  # a run that never settles
    held = await ada.balance()
    assert held["activeReservedMicros"] == 1_000_000  # the default 1 EUR hold
    assert (await move(localcore_client, {"advanceSeconds": 7200}))[0] == 200  # BORING_CREDITS_RESERVATION_TTL_SECONDS
    lapsed = await ada.balance()
    assert lapsed["activeReservedMicros"] == 0
    assert lapsed["availableMicros"] == held["availableMicros"] + 1_000_000


@pytest.mark.parametrize("body", [
    {"advanceSeconds": -1}, {"advanceSeconds": 0}, {"advanceSeconds": 1.5}, {"advanceSeconds": "60"},
    {"advanceSeconds": True}, {"advanceSeconds": 366 * DAY + 1}, {"reset": False}, {},
    {"advanceSeconds": 5, "reset": True}, {"advanceSeconds": 5, "offset": 1}, [60],
])
async def test_a_bad_change_is_a_400_and_moves_nothing(localcore_client: LocalcoreClient, clock: ManualClock,
                                                       body: Any) -> None:
    status, answer = await move(localcore_client, body)
    assert (status, answer["code"]) == (400, "validation_failed"), answer
    async with localcore_client.get(CLOCK, headers=KEY) as response:
        assert await response.json() == {"offsetSeconds": 0, "now": iso(clock())}


async def _closed_mailbox_answer(client: LocalcoreClient, method: str) -> dict[str, Any]:
    """What the dev mailbox answers without its secret, with the clock's path in it."""
    async with client.request("GET" if method == "GET" else "DELETE", "/api/dev/mail") as response:
        assert response.status == 404
        text = (await response.text()).replace("/api/dev/mail", CLOCK).replace("DELETE:", "POST:")
    body: dict[str, Any] = json.loads(text)
    body.pop("requestId")
    return body


@pytest.mark.parametrize("headers", [{}, {"x-dev-mailbox-token": "wrong"},
                                     {"x-dev-mailbox-token": TEST_ENV["DEV_MAILBOX_TOKEN"][:-1]}])
async def test_without_the_secret_it_is_the_closed_mailboxs_404(localcore_client: LocalcoreClient,
                                                                headers: dict[str, str]) -> None:
    for method in ("GET", "POST"):
        async with localcore_client.request(method, CLOCK, json={"advanceSeconds": 60}, headers=headers) as response:
            assert response.status == 404
            body = await response.json()
        body.pop("requestId")
        assert body == await _closed_mailbox_answer(localcore_client, method)
    async with localcore_client.get(CLOCK, headers=KEY) as response:
        assert (await response.json())["offsetSeconds"] == 0


@pytest.fixture
async def started() -> AsyncIterator[list[TestClient[Any, Any]]]:
    """Apps a test builds itself (other configurations over ``localcore_backend``), closed at the end."""
    opened: list[TestClient[Any, Any]] = []
    yield opened
    for client in opened:
        await client.close()


async def _client_of(opened: list[TestClient[Any, Any]], config: Any, backend: Backend, clock: Clock,
                     **kwargs: Any) -> TestClient[Any, Any]:
    client: TestClient[Any, Any] = TestClient(TestServer(create_app(config, backend, clock=clock, **kwargs)))
    await client.start_server()
    opened.append(client)
    return client


async def test_refused_in_production_even_with_a_console_mailbox(
        started: list[TestClient[Any, Any]], localcore_backend: Backend, localcore_clock: OffsetClock) -> None:
    production = load_config(env={
        "LOCALCORE_ENV": "production", "BETTER_AUTH_SECRET": "prod-secret-" + "q7" * 16,
        "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "0123456789abcdef" * 4, "BETTER_AUTH_URL": "https://app.example.com",
        "MAIL_FROM": "App <noreply@example.com>", "MAIL_TRANSPORT_URL": "smtp://localhost:2525",
        "TRUSTED_HOSTS": "*", "DEV_MAILBOX_TOKEN": TEST_ENV["DEV_MAILBOX_TOKEN"]})
    console = build_mailer(load_config(env=TEST_ENV), localcore_clock)  # a dev mailbox, injected
    assert console.dev_mailbox is not None
    client = await _client_of(started, production, localcore_backend, localcore_clock, mailer=console)
    assert (await client.get("/api/dev/mail", headers=KEY)).status == 200  # the mailbox opens...
    for method in ("GET", "POST"):  # ...the clock does not
        response = await client.request(method, CLOCK, json={"advanceSeconds": 60}, headers=KEY)
        assert response.status == 404
    assert localcore_clock.offset == timedelta(0)


async def test_refused_with_a_transport_other_than_console(
        started: list[TestClient[Any, Any]], localcore_backend: Backend, localcore_clock: OffsetClock) -> None:
    smtp = load_config(env={**TEST_ENV, "MAIL_TRANSPORT_URL": "smtp://127.0.0.1:2525"})
    client = await _client_of(started, smtp, localcore_backend, localcore_clock)
    for method in ("GET", "POST"):
        response = await client.request(method, CLOCK, json={"advanceSeconds": 60}, headers=KEY)
        assert response.status == 404
    assert localcore_clock.offset == timedelta(0)


async def test_refused_over_a_clock_that_cannot_move(started: list[TestClient[Any, Any]],
                                                     localcore_backend: Backend, clock: ManualClock) -> None:
    client = await _client_of(started, load_config(env=TEST_ENV), localcore_backend, clock)
    assert (await client.get(CLOCK, headers=KEY)).status == 404


async def test_the_openapi_document_describes_both_operations(localcore_client: LocalcoreClient) -> None:
    status, document = await localcore_client.call("GET", "/api/openapi.json")
    assert status == 200
    operations = document["paths"][CLOCK]
    assert set(operations) == {"get", "post"}
    body = operations["post"]["requestBody"]["content"]["application/json"]["schema"]
    schema = document["components"]["schemas"][body["$ref"].rsplit("/", 1)[-1]] if "$ref" in body else body
    assert set(schema["properties"]) == {"advanceSeconds", "reset"}
    for operation in operations.values():
        assert {"200", "404"} <= set(operation["responses"])
        assert {p["name"] for p in operation["parameters"]} >= {"token", "x-dev-mailbox-token"}
