"""The auth rate limits apply on the real auth paths and are shared by every process on the database
(docs/compatibility.md, fix 1)."""

from __future__ import annotations

from collections.abc import Mapping

import pytest

from localcore.config import Config
from localcore.store import Backend
from tests.api.auth_support import STRONG_PASSWORD, AuthClient, ClientFactory, make_config


def limited() -> Config:
    # Clients are told apart by the X-Forwarded-For entry of one trusted proxy.
    return make_config(LOCALCORE_RATE_LIMITS="on", TRUST_PROXY="1")


async def _post(client: AuthClient, path: str, body: Mapping[str, object], ip: str = "198.51.100.1") -> int:
    response = await client.http.post(path, json=body, headers={"X-Forwarded-For": ip})
    if response.status == 429:
        payload = await response.json()
        assert payload["code"] == "rate_limited"
        retry_after = int(response.headers["Retry-After"])
        assert 0 < retry_after <= 3600
        assert f"Retry after {retry_after} seconds" in payload["message"]
    return response.status


async def test_the_sixth_sign_in_in_a_minute_is_429_then_the_window_resets(make_client: ClientFactory) -> None:
    client = await make_client(limited())
    body = {"email": "ada@example.com", "password": STRONG_PASSWORD}
    statuses = [await _post(client, "/auth/sign-in/email", body) for _ in range(6)]
    assert statuses == [401] * 5 + [429]
    assert await _post(client, "/auth/sign-in/email", body, ip="198.51.100.2") == 401  # another client
    client.clock.advance(seconds=60)
    assert await _post(client, "/auth/sign-in/email", body) == 401


async def test_the_limit_is_shared_by_two_processes_on_one_database(make_client: ClientFactory,
                                                                    second_backend: Backend) -> None:
    first = await make_client(limited())
    second = await make_client(limited(), backend_=second_backend)
    body = {"email": "ada@example.com", "password": STRONG_PASSWORD}
    statuses = []
    for i in range(6):
        statuses.append(await _post(first if i % 2 == 0 else second, "/auth/sign-in/email", body))
    assert statuses == [401] * 5 + [429]


@pytest.mark.parametrize(("path", "body"), [
    ("/auth/sign-up/email", {"name": "A", "email": "weak@example.com", "password": "password"}),
    ("/auth/request-password-reset", {"email": "ada@example.com"}),
    ("/auth/send-verification-email", {"email": "ada@example.com"}),
])
async def test_the_fourth_hourly_request_is_429(make_client: ClientFactory, path: str,
                                                body: dict[str, object]) -> None:
    client = await make_client(limited())
    statuses = [await _post(client, path, body) for _ in range(4)]
    assert statuses[3] == 429 and 429 not in statuses[:3]
    client.clock.advance(minutes=59)
    assert await _post(client, path, body) == 429
    client.clock.advance(minutes=1)
    assert await _post(client, path, body) != 429


async def test_magic_link_requests_are_limited_to_five_a_minute(make_client: ClientFactory) -> None:
    client = await make_client(limited())
    statuses = [await _post(client, "/auth/sign-in/magic-link", {"email": "ada@example.com"}) for _ in range(6)]
    assert statuses == [200] * 5 + [429]


async def test_sign_out_is_never_rate_limited(make_client: ClientFactory) -> None:
    client = await make_client(limited())
    assert all([await _post(client, "/auth/sign-out", {}) == 200 for _ in range(20)])


async def test_overrides_replace_a_limit(make_client: ClientFactory) -> None:
    client = await make_client(make_config(
        LOCALCORE_RATE_LIMITS="on",
        RATE_LIMIT_OVERRIDES_JSON='{"/auth/sign-in/email": {"max": 2, "window": "1 second"}}'))
    body = {"email": "ada@example.com", "password": STRONG_PASSWORD}
    assert [await _post(client, "/auth/sign-in/email", body) for _ in range(3)] == [401, 401, 429]
    client.clock.advance(seconds=1.5)
    assert await _post(client, "/auth/sign-in/email", body) == 401
