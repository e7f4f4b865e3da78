"""Attack: read someone's private answers from a cache, and fingerprint the server (docs/compatibility.md,
"Security hardening").

Without ``Cache-Control: no-store`` a shared or browser cache may keep a per-user answer (``/api/v1/me``, a
balance, an error that names an account) and hand it to the next person on the machine or behind the same
proxy; and ``Server: Python/3.x aiohttp/3.y`` tells an attacker which known bugs to try. Fixed: every
``/api/*`` and ``/auth/*`` JSON response carries ``Cache-Control: no-store``, success or error (4xx, the
404 of an unknown route, the auth gate's 401, 429), and no response names the server software or version.
"""

from __future__ import annotations

import re
import uuid
from typing import Any

from aiohttp import ClientResponse

from tests.api.auth_support import STRONG_PASSWORD, AuthClient, ClientFactory, make_config

Request = tuple[str, str, Any]  # method, path, JSON body (None: no body)


async def _cache_offenders(client: AuthClient, requests: list[Request],
                           headers: dict[str, str] | None = None) -> list[str]:
    """``"METHOD path -> status"`` of every JSON answer that lacks ``Cache-Control: no-store``."""
    offenders = []
    for method, path, body in requests:
        response = await client.http.request(method, path, json=body, headers=headers or {})
        assert response.content_type == "application/json", (method, path, response.status)
        if "no-store" not in response.headers.get("Cache-Control", ""):
            offenders.append(f"{method} {path} -> {response.status}")
    return offenders


async def _signed_in(client: AuthClient) -> str:
    await client.sign_up()
    workspaces = (await (await client.http.get("/api/v1/workspaces")).json())["workspaces"]
    return str(workspaces[0]["id"])


async def test_successful_api_and_auth_answers_are_never_cached(app_client: AuthClient) -> None:
    workspace = await _signed_in(app_client)
    offenders = await _cache_offenders(app_client, [
        ("GET", "/api/v1/me", None),
        ("GET", "/api/v1/config", None),
        ("GET", "/api/v1/capabilities", None),
        ("GET", "/api/openapi.json", None),
        ("GET", "/api/v1/workspaces", None),
        ("GET", f"/api/v1/workspaces/{workspace}", None),
        ("GET", f"/api/v1/workspaces/{workspace}/members", None),
        ("GET", "/api/credits/balance", None),
        ("GET", "/api/credits/history", None),
        ("GET", "/auth/get-session", None),
        ("GET", "/auth/list-sessions", None),
        ("POST", "/auth/sign-in/email", {"email": "ada@example.com", "password": STRONG_PASSWORD}),
    ])
    assert offenders == []


async def test_error_answers_are_never_cached(app_client: AuthClient) -> None:
    anonymous = await _cache_offenders(app_client, [
        ("GET", "/api/v1/me", None),  # the auth gate's 401
        ("GET", "/api/v1/workspaces", None),
        ("GET", "/api/no-such-route", None),  # 404 of an unknown /api route
        ("GET", "/api/v1/no-such-route", None),
        ("POST", "/auth/sign-in/email", {"email": "ada@example.com", "password": "wrong-password"}),
        ("POST", "/auth/sign-up/email", {"email": "not-an-email"}),
        ("POST", "/auth/reset-password", {"token": "nope", "newPassword": STRONG_PASSWORD}),
        ("POST", "/api/v1/invites/resolve", {"token": "nope"}),
    ])
    await _signed_in(app_client)
    signed_in = await _cache_offenders(app_client, [
        ("GET", f"/api/v1/workspaces/{uuid.uuid4()}", None),
        ("POST", "/api/v1/workspaces", {"unexpected": True}),
        ("POST", "/auth/change-password", {"currentPassword": "wrong-password", "newPassword": STRONG_PASSWORD}),
    ])
    foreign = await _cache_offenders(app_client, [("POST", "/api/v1/workspaces", {"name": "x"})],
                                     headers={"Origin": "https://evil.example"})  # 403 origin check
    assert anonymous + signed_in + foreign == []


async def test_rate_limited_answers_are_never_cached(make_client: ClientFactory) -> None:
    client = await make_client(make_config(LOCALCORE_RATE_LIMITS="on"))
    response: ClientResponse | None = None
    for n in range(6):
        response = await client.http.post("/auth/sign-in/email",
                                          json={"email": f"guess{n}@example.com", "password": "wrong-password"})
    assert response is not None and response.status == 429
    assert "no-store" in response.headers.get("Cache-Control", "")


SOFTWARE = re.compile(r"aiohttp|python|\d", re.IGNORECASE)


async def test_no_response_names_the_server_software(app_client: AuthClient) -> None:
    seen: dict[str, str | None] = {}
    for method, path in [("GET", "/health"), ("GET", "/"), ("HEAD", "/"), ("GET", "/app.js"),
                         ("GET", "/styles.css"), ("GET", "/favicon.svg"), ("GET", "/dev/mail"),
                         ("GET", "/api/v1/config"), ("GET", "/api/no-such-route"), ("GET", "/api/v1/me"),
                         ("GET", "/auth/get-session"), ("POST", "/auth/sign-in/email"), ("OPTIONS", "/api/v1/me")]:
        response = await app_client.http.request(method, path, allow_redirects=False)
        seen[f"{method} {path} -> {response.status}"] = response.headers.get("Server")
    offenders = {request: server for request, server in seen.items() if server and SOFTWARE.search(server)}
    assert offenders == {}
