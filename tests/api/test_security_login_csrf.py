"""Attack: login CSRF from a page on another local origin (docs/compatibility.md, "Security hardening").

A page on ``http://127.0.0.1:9999`` (another port: the same *site*, another *origin*) posts a
``text/plain`` body of JSON (or an HTML form) to ``/auth/sign-in/email`` of the local server; the browser
has no session cookie yet, so today nothing checks the origin and the browser ends up signed in to the
attacker's account (everything the victim then saves goes to the attacker). Fixed: an ``/auth/*`` POST
from a browser (an ``Origin``, or ``Sec-Fetch-Site`` other than ``same-origin``/``none``) must come from an
allowed origin whether or not a cookie is present: 403 ``INVALID_ORIGIN`` otherwise. Non-browser clients
(no ``Origin``, no Fetch-Metadata) keep working.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import ClientResponse

from tests.api.auth_support import OTHER_STRONG_PASSWORD, AuthClient
from tests.api.security_support import token_of

ATTACKER = "attacker@example.com"
OTHER_PORT_ORIGIN = "http://127.0.0.1:9999"

# What a browser sends for a cross-origin page's fetch()/form (the headers the server can see).
FOREIGN_BROWSER_REQUESTS: dict[str, dict[str, str]] = {
    "other-port-origin-same-site": {"Origin": OTHER_PORT_ORIGIN, "Sec-Fetch-Site": "same-site",
                                    "Sec-Fetch-Mode": "cors"},
    "other-port-origin-form-navigation": {"Origin": OTHER_PORT_ORIGIN, "Sec-Fetch-Site": "same-site",
                                          "Sec-Fetch-Mode": "navigate"},
    "other-site-origin": {"Origin": "https://evil.example", "Sec-Fetch-Site": "cross-site"},
    "opaque-origin": {"Origin": "null", "Sec-Fetch-Site": "cross-site"},
    "origin-without-fetch-metadata": {"Origin": OTHER_PORT_ORIGIN},
    "same-site-without-origin": {"Sec-Fetch-Site": "same-site"},
    "cross-site-without-origin": {"Sec-Fetch-Site": "cross-site"},
}

Payload = Callable[[AuthClient], Awaitable[dict[str, Any]]]


async def _sign_in_payload(client: AuthClient) -> dict[str, Any]:
    return {"email": ATTACKER, "password": OTHER_STRONG_PASSWORD}


async def _sign_up_payload(client: AuthClient) -> dict[str, Any]:
    return {"name": "Attacker", "email": "fresh-attacker@example.com", "password": OTHER_STRONG_PASSWORD}


async def _magic_link_payload(client: AuthClient) -> dict[str, Any]:
    """The attacker's own magic-link token, posted from the attacker's page into the victim's browser."""
    response = await client.http.post("/auth/sign-in/magic-link", json={"email": ATTACKER})
    assert response.status == 200
    return {"token": token_of(await client.link(ATTACKER, "Sign in to", "/auth/magic-link/verify"))}


ROUTES: dict[str, tuple[str, Payload]] = {
    "sign-in": ("/auth/sign-in/email", _sign_in_payload),
    "sign-up": ("/auth/sign-up/email", _sign_up_payload),
    "magic-link": ("/auth/magic-link/verify", _magic_link_payload),
}


async def _prepare(client: AuthClient) -> None:
    """The attacker's account exists (made by a script); the victim's browser starts without cookies."""
    await client.sign_up(ATTACKER, OTHER_STRONG_PASSWORD, name="Attacker")
    client.http.session.cookie_jar.clear()


async def _post(client: AuthClient, path: str, payload: dict[str, Any], headers: dict[str, str], *,
                form: bool = False) -> ClientResponse:
    if form:
        return await client.http.post(path, data=payload, headers=headers)  # urlencoded, like an HTML form
    return await client.http.post(path, data=json.dumps(payload), headers={"Content-Type": "text/plain", **headers})


def _session_cookie_set(response: ClientResponse) -> bool:
    return any(c.startswith("boring-app.session_token=") and "Max-Age=0" not in c
               for c in response.headers.getall("Set-Cookie", []))


@pytest.mark.parametrize("route", list(ROUTES))
@pytest.mark.parametrize("request_headers", list(FOREIGN_BROWSER_REQUESTS))
async def test_a_foreign_origin_cannot_sign_the_browser_in(app_client: AuthClient, route: str,
                                                           request_headers: str) -> None:
    await _prepare(app_client)
    path, payload = ROUTES[route]
    body = await payload(app_client)
    response = await _post(app_client, path, body, FOREIGN_BROWSER_REQUESTS[request_headers])
    answer = await response.json()
    assert response.status == 403, answer
    assert answer["code"] == "INVALID_ORIGIN" and set(answer) == {"code", "message"}  # the auth envelope
    assert not _session_cookie_set(response)
    assert await app_client.session() is None
    assert await app_client.backend.users.get_user_by_email("fresh-attacker@example.com") is None


async def test_an_html_form_from_another_port_cannot_sign_the_browser_in(app_client: AuthClient) -> None:
    await _prepare(app_client)
    response = await _post(app_client, "/auth/sign-in/email", await _sign_in_payload(app_client),
                           FOREIGN_BROWSER_REQUESTS["other-port-origin-form-navigation"], form=True)
    assert response.status == 403
    assert (await response.json())["code"] == "INVALID_ORIGIN"
    assert await app_client.session() is None


@pytest.mark.parametrize("route", ["sign-in", "sign-up"])
async def test_allowed_origins_and_non_browser_clients_still_sign_in(app_client: AuthClient, route: str) -> None:
    await _prepare(app_client)
    path, payload = ROUTES[route]
    own_origin = f"http://127.0.0.1:{app_client.http.port}"
    allowed = [
        {"Origin": "https://app.example.com", "Sec-Fetch-Site": "cross-site"},  # a CORS_ORIGINS front end
        {"Origin": own_origin, "Sec-Fetch-Site": "same-origin"},  # the bundled shell
        {"Sec-Fetch-Site": "none"},  # typed by the user
        {},  # curl, a script, a test: not a browser
    ]
    # The refusal first (what today's code lets through), then every legitimate caller.
    refused = await _post(app_client, path, await payload(app_client),
                          FOREIGN_BROWSER_REQUESTS["other-port-origin-same-site"])
    assert refused.status == 403
    for n, headers in enumerate(allowed):
        app_client.http.session.cookie_jar.clear()
        body = await payload(app_client)
        if route == "sign-up":
            body["email"] = f"newcomer{n}@example.com"
        response = await _post(app_client, path, body, headers)
        assert response.status == 200, (headers, await response.text())
        assert _session_cookie_set(response)
