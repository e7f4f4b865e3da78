"""Attack: guess one account's password without limit from many addresses (docs/compatibility.md, "Security hardening").

The only sign-in limit today is 5 per minute per IP, so an attacker with many addresses (or one who waits
a minute between bursts) guesses one account's password for ever. Fixed: independent of IP, after 10
failed sign-ins for one email within 15 minutes, further attempts for that email (even with the right
password) answer 429 ``rate_limited`` with ``Retry-After`` until the window passes; only failures count
(a success in between does not reset it), unknown emails are counted the same way (the limit reveals
nothing), and the count is shared by every process through the backend.
"""

from __future__ import annotations

import json
from typing import Any

from localcore.config import Config
from localcore.store import Backend
from tests.api.auth_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, AuthClient, ClientFactory, make_config

SIGN_IN = "/auth/sign-in/email"
VICTIM = "victim@example.com"
FAILURES_ALLOWED = 10
WINDOW_MINUTES = 15
# The 5-per-minute IP rule raised out of the way: only the per-account rule is under test.
NO_IP_LIMIT = {"POST /auth/sign-in/email": {"max": 1000, "window": "1 minute"}}


def limited_config(overrides: dict[str, Any] | None = None, **env: str) -> Config:
    return make_config(LOCALCORE_RATE_LIMITS="on",
                       RATE_LIMIT_OVERRIDES_JSON=json.dumps({**NO_IP_LIMIT, **(overrides or {})}), **env)


async def _victim(make_client: ClientFactory, config: Config | None = None) -> AuthClient:
    client = await make_client(config or limited_config())
    await client.sign_up(VICTIM)
    client.http.session.cookie_jar.clear()
    return client


async def _attempt(client: AuthClient, password: str, email: str = VICTIM,
                   headers: dict[str, str] | None = None) -> tuple[int, dict[str, Any], dict[str, str]]:
    client.http.session.cookie_jar.clear()
    response = await client.http.post(SIGN_IN, json={"email": email, "password": password}, headers=headers or {})
    return response.status, await response.json(), dict(response.headers)


async def _fail(client: AuthClient, times: int, email: str = VICTIM) -> None:
    for n in range(times):
        status, body, _ = await _attempt(client, f"wrong-guess-{n}", email)
        assert (status, body["code"]) == (401, "INVALID_EMAIL_OR_PASSWORD"), (n, body)


def _assert_limited(status: int, body: dict[str, Any], headers: dict[str, str], window_seconds: int) -> None:
    assert status == 429, body
    assert body["code"] == "rate_limited"
    assert 0 < int(headers["Retry-After"]) <= window_seconds


async def test_ten_failures_lock_the_account_even_for_the_right_password_until_the_window_passes(
        make_client: ClientFactory) -> None:
    client = await _victim(make_client)
    await _fail(client, FAILURES_ALLOWED)
    _assert_limited(*await _attempt(client, STRONG_PASSWORD), window_seconds=WINDOW_MINUTES * 60)
    _assert_limited(*await _attempt(client, OTHER_STRONG_PASSWORD), window_seconds=WINDOW_MINUTES * 60)
    assert await client.session() is None
    await client.sign_up("bystander@example.com")  # another account is not affected
    await client.sign_in("bystander@example.com")
    client.clock.advance(minutes=WINDOW_MINUTES, seconds=1)
    status, body, _ = await _attempt(client, STRONG_PASSWORD)
    assert status == 200 and body["user"]["email"] == VICTIM


async def test_changing_the_client_address_does_not_reset_the_account_limit(make_client: ClientFactory) -> None:
    client = await make_client(make_config(LOCALCORE_RATE_LIMITS="on", TRUST_PROXY="1"))
    await client.sign_up(VICTIM)

    for n in range(FAILURES_ALLOWED):  # every guess from another address: the 5/minute IP rule never trips
        status, body, _ = await _attempt(client, f"wrong-{n}", headers={"X-Forwarded-For": f"198.51.100.{n}"})
        assert status == 401, (n, body)
    _assert_limited(*await _attempt(client, STRONG_PASSWORD, headers={"X-Forwarded-For": "203.0.113.99"}),
                    window_seconds=WINDOW_MINUTES * 60)


async def test_a_successful_sign_in_does_not_reset_the_failure_count(make_client: ClientFactory) -> None:
    client = await _victim(make_client)
    await _fail(client, FAILURES_ALLOWED // 2)
    status, _, _ = await _attempt(client, STRONG_PASSWORD)
    assert status == 200  # the owner signs in meanwhile; the attacker's earlier guesses still count
    await _fail(client, FAILURES_ALLOWED - FAILURES_ALLOWED // 2)
    _assert_limited(*await _attempt(client, STRONG_PASSWORD), window_seconds=WINDOW_MINUTES * 60)


async def test_changing_the_case_or_padding_of_the_email_does_not_dodge_the_limit(
        make_client: ClientFactory) -> None:
    client = await _victim(make_client)
    spellings = ["victim@example.com", "VICTIM@example.com", " Victim@Example.com ", "victim@EXAMPLE.COM"]
    for n in range(FAILURES_ALLOWED):
        status, body, _ = await _attempt(client, f"wrong-{n}", spellings[n % len(spellings)])
        assert status == 401, body
    _assert_limited(*await _attempt(client, STRONG_PASSWORD, "Victim@Example.COM"),
                    window_seconds=WINDOW_MINUTES * 60)


async def test_an_unknown_email_is_limited_exactly_like_a_known_one(make_client: ClientFactory) -> None:
    client = await _victim(make_client)
    await _fail(client, FAILURES_ALLOWED)
    await _fail(client, FAILURES_ALLOWED, "nobody@example.com")
    known = await _attempt(client, "another-guess")
    unknown = await _attempt(client, "another-guess", "nobody@example.com")
    _assert_limited(*known, window_seconds=WINDOW_MINUTES * 60)
    _assert_limited(*unknown, window_seconds=WINDOW_MINUTES * 60)

    def shape(answer: tuple[int, dict[str, Any], dict[str, str]]) -> tuple[Any, ...]:
        status, body, headers = answer
        varying = {"x-request-id", "date", "content-security-policy", "content-length"}
        return (status, {k: v for k, v in body.items() if k != "requestId"},
                sorted(h.lower() for h in headers if h.lower() not in varying), headers["Retry-After"])

    assert shape(known) == shape(unknown)


async def test_failures_on_one_process_count_on_another(make_client: ClientFactory, second_backend: Backend) -> None:
    first = await _victim(make_client)
    second = await make_client(limited_config(), backend_=second_backend)
    half = FAILURES_ALLOWED // 2
    await _fail(first, half)
    await _fail(second, FAILURES_ALLOWED - half)
    _assert_limited(*await _attempt(first, STRONG_PASSWORD), window_seconds=WINDOW_MINUTES * 60)
    _assert_limited(*await _attempt(second, STRONG_PASSWORD), window_seconds=WINDOW_MINUTES * 60)


async def test_the_account_limit_is_overridable(make_client: ClientFactory) -> None:
    config = limited_config({"sign-in-failures-per-account": {"max": 3, "window": "1 minute"}})
    client = await _victim(make_client, config)
    await _fail(client, 3)
    _assert_limited(*await _attempt(client, STRONG_PASSWORD), window_seconds=60)
    client.clock.advance(seconds=61)
    assert (await _attempt(client, STRONG_PASSWORD))[0] == 200


async def test_concurrent_guesses_cannot_slip_past_the_limit(make_client: ClientFactory) -> None:
    """A burst of simultaneous guesses gets exactly ``FAILURES_ALLOWED`` tries: each attempt is counted
    before its password is checked, not after (a read-then-count limit would let the whole burst in)."""
    import asyncio

    client = await _victim(make_client)
    results = await asyncio.gather(*(_attempt(client, f"burst-{n}") for n in range(3 * FAILURES_ALLOWED)))
    statuses = sorted(status for status, _, _ in results)
    assert statuses == [401] * FAILURES_ALLOWED + [429] * (2 * FAILURES_ALLOWED)
