"""Attack: reset the rate limits with a forged ``X-Forwarded-For`` (docs/compatibility.md, "Security hardening").

Today the first XFF entry from any loopback peer is the client IP, so a local process (or anyone behind a
local reverse proxy, which appends rather than replaces the header) picks a fresh rate-limit key for every
request: unlimited password guesses, sign-ups and mail floods; and the bootstrap "loopback only" check
believes a forged ``X-Forwarded-For: 127.0.0.1``. Fixed: XFF is ignored unless ``TRUST_PROXY`` says how
many proxy hops to trust (``true`` = 1), and then the client is the right-most address that is not one
of them (Werkzeug's ProxyFix, Express's ``trust proxy``); bootstrap uses the same resolved address.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest

from localcore.auth.bootstrap import offer_bootstrap_link
from localcore.errors import ConfigError
from localcore.store import Backend
from tests.api.auth_support import STRONG_PASSWORD, AuthClient, ClientFactory, make_config

SIGN_IN = "/auth/sign-in/email"

# ----------------------------------------------------------------------------- configuration


@pytest.mark.parametrize(("value", "hops"), [("true", 1), ("1", 1), ("2", 2), ("false", 0), ("0", 0)])
def test_trust_proxy_is_a_number_of_hops(value: str, hops: int) -> None:
    trusted = make_config(TRUST_PROXY=value).trust_proxy
    assert (type(trusted), trusted) == (int, hops)
    default = make_config().trust_proxy
    assert (type(default), default) == (int, 0)


@pytest.mark.parametrize("value", ["maybe", "-1", "1.5", "two"])
def test_a_meaningless_trust_proxy_is_a_config_error(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        make_config(TRUST_PROXY=value)
    assert "TRUST_PROXY" in str(refused.value)


# ----------------------------------------------------------------------------- rate limits


async def _limited_client(make_client: ClientFactory, **env: str) -> AuthClient:
    return await make_client(make_config(LOCALCORE_RATE_LIMITS="on", **env))


async def _guess(client: AuthClient, forwarded_for: str, attempt: int) -> int:
    """One password guess (a different account each time, so only the IP rule can stop it)."""
    response = await client.http.post(SIGN_IN, headers={"X-Forwarded-For": forwarded_for},
                                      json={"email": f"target{attempt}@example.com", "password": f"guess-{attempt}"})
    if response.status == 429:
        assert (await response.json())["code"] == "rate_limited"
        assert int(response.headers["Retry-After"]) > 0
    return response.status


async def test_without_trust_proxy_a_changing_forwarded_for_does_not_reset_the_sign_in_limit(
        make_client: ClientFactory) -> None:
    client = await _limited_client(make_client)
    statuses = [await _guess(client, f"198.51.100.{n}", n) for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert await _guess(client, "127.0.0.1", 7) == 429
    assert await _guess(client, "", 8) == 429


async def test_with_one_trusted_proxy_the_client_is_the_right_most_entry(make_client: ClientFactory) -> None:
    client = await _limited_client(make_client, TRUST_PROXY="1")
    # The client writes the left part; the proxy appends the address it really saw.
    statuses = [await _guess(client, f"spoof-{n}, 203.0.113.7", n) for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert await _guess(client, "203.0.113.7", 6) == 429
    assert await _guess(client, "spoof, 198.51.100.9", 7) == 401  # another client behind the same proxy


async def test_with_two_trusted_proxies_the_client_is_the_second_entry_from_the_right(
        make_client: ClientFactory) -> None:
    client = await _limited_client(make_client, TRUST_PROXY="2")
    statuses = [await _guess(client, f"spoof-{n}, 203.0.113.7, 10.0.0.1", n) for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert await _guess(client, "other, 203.0.113.7, 10.0.0.2", 6) == 429  # the same client, another edge
    assert await _guess(client, "spoof, 198.51.100.9, 10.0.0.1", 7) == 401


async def test_two_processes_count_a_forged_forwarded_for_client_together(make_client: ClientFactory,
                                                                         second_backend: Backend) -> None:
    first = await _limited_client(make_client)
    second = await make_client(make_config(LOCALCORE_RATE_LIMITS="on"), backend_=second_backend)
    statuses = [await _guess(first if n % 2 else second, f"198.51.100.{n}", n) for n in range(6)]
    assert statuses == [401] * 5 + [429]
    assert await _guess(first, "203.0.113.50", 6) == 429


Body = Callable[[int], dict[str, Any]]
FLOODS: list[tuple[str, int, Body]] = [
    ("/auth/sign-up/email", 3,
     lambda n: {"name": "Spam", "email": f"spam{n}@example.com", "password": STRONG_PASSWORD}),
    ("/auth/sign-in/magic-link", 5, lambda n: {"email": f"victim{n}@example.com"}),
    ("/auth/request-password-reset", 3, lambda n: {"email": f"victim{n}@example.com"}),
]


@pytest.mark.parametrize(("path", "limit", "body"), FLOODS, ids=[path for path, _, _ in FLOODS])
async def test_a_forged_forwarded_for_cannot_flood_sign_ups_or_mail(make_client: ClientFactory, path: str,
                                                                    limit: int, body: Body) -> None:
    client = await _limited_client(make_client)
    statuses = []
    for n in range(limit + 1):
        client.http.session.cookie_jar.clear()
        response = await client.http.post(path, json=body(n), headers={"X-Forwarded-For": f"198.51.100.{n}"})
        statuses.append(response.status)
    assert statuses == [200] * limit + [429]


# ----------------------------------------------------------------------------- bootstrap


async def _bootstrap_token(client: AuthClient) -> str:
    link = await offer_bootstrap_link(client.app, "http://127.0.0.1:8787/")
    assert link is not None
    return parse_qs(urlsplit(link).query)["token"][0]


async def _bootstrap(client: AuthClient, token: str, forwarded_for: str) -> tuple[int, str]:
    response = await client.http.post("/auth/bootstrap", json={"token": token},
                                      headers={"X-Forwarded-For": forwarded_for})
    return response.status, (await response.json()).get("code", "")


async def test_bootstrap_trusts_only_the_address_the_proxy_saw(make_client: ClientFactory) -> None:
    proxied = await make_client(make_config(TRUST_PROXY="1"))
    token = await _bootstrap_token(proxied)
    # A remote client forging "I am 127.0.0.1" behind a proxy that appends its real address.
    assert await _bootstrap(proxied, token, "127.0.0.1, 198.51.100.1") == (403, "BOOTSTRAP_LOOPBACK_ONLY")
    assert await _bootstrap(proxied, token, "198.51.100.1") == (403, "BOOTSTRAP_LOOPBACK_ONLY")
    assert await proxied.backend.users.count_users() == 0


async def test_bootstrap_ignores_forwarded_for_without_trust_proxy(make_client: ClientFactory) -> None:
    direct = await make_client(make_config())
    token = await _bootstrap_token(direct)
    status, code = await _bootstrap(direct, token, "198.51.100.1")  # the peer is loopback; the header is noise
    assert (status, code) == (200, "")
