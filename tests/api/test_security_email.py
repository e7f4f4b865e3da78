"""Attack: a look-alike second account through non-ASCII letters in the address (docs/compatibility.md,
"Security hardening").

The email pattern is case-insensitive ``[A-Z]``, which in Python's Unicode matching also admits the dotless
i (U+0131), the long s (U+017F) and the Kelvin sign (U+212A): ``al\u0131ce@example.com`` becomes a second
account beside ``alice@example.com``, indistinguishable on screen (invites, member lists, mails).
Fixed: every non-ASCII address is refused with the validation error, wherever an address comes in.
"""

from __future__ import annotations

from typing import Any

import pytest

from tests.api.auth_support import STRONG_PASSWORD, AuthClient

LOOK_ALIKES = ["al\u0131ce@example.com", "\u017fam@example.com", "\u212aate@example.com", "ada@examp\u0131e.com"]
IDS = ["dotless-i", "long-s", "kelvin-sign", "dotless-i-in-domain"]


async def _auth_answer(client: AuthClient, path: str, body: dict[str, Any]) -> tuple[int, Any]:
    response = await client.http.post(path, json=body)
    return response.status, await response.json()


@pytest.mark.parametrize("email", LOOK_ALIKES, ids=IDS)
@pytest.mark.parametrize(("path", "extra"), [
    ("/auth/sign-up/email", {"name": "Look-alike", "password": STRONG_PASSWORD}),
    ("/auth/sign-in/email", {"password": STRONG_PASSWORD}),
    ("/auth/sign-in/magic-link", {}),
    ("/auth/request-password-reset", {}),
], ids=["sign-up", "sign-in", "magic-link", "password-reset"])
async def test_a_non_ascii_address_is_an_invalid_email(app_client: AuthClient, email: str, path: str,
                                                       extra: dict[str, Any]) -> None:
    status, body = await _auth_answer(app_client, path, {"email": email, **extra})
    assert (status, body.get("code")) == (400, "INVALID_EMAIL"), body
    assert await app_client.mails(email) == []


@pytest.mark.parametrize("email", LOOK_ALIKES, ids=IDS)
async def test_an_account_cannot_move_to_a_non_ascii_address(app_client: AuthClient, email: str) -> None:
    await app_client.sign_up("someone@example.com")
    status, body = await _auth_answer(app_client, "/auth/change-email", {"newEmail": email})
    assert (status, body.get("code")) == (400, "INVALID_EMAIL"), body
    assert (await app_client.session())["user"]["email"] == "someone@example.com"


@pytest.mark.parametrize("email", LOOK_ALIKES, ids=IDS)
async def test_a_workspace_invite_to_a_non_ascii_address_is_a_validation_error(app_client: AuthClient,
                                                                               email: str) -> None:
    await app_client.sign_up("owner@example.com")
    workspaces = (await (await app_client.http.get("/api/v1/workspaces")).json())["workspaces"]
    response = await app_client.http.post(f"/api/v1/workspaces/{workspaces[0]['id']}/invites",
                                          json={"email": email, "role": "viewer"})
    body = await response.json()
    assert response.status == 400, body
    assert body["code"] == "validation_failed" and {"error", "code", "message"} <= set(body)


async def test_a_look_alike_account_cannot_be_created_next_to_the_real_one(app_client: AuthClient) -> None:
    await app_client.sign_up("alice@example.com", name="Alice")
    app_client.http.session.cookie_jar.clear()
    status, body = await _auth_answer(app_client, "/auth/sign-up/email", {
        "name": "Alice", "email": "al\u0131ce@example.com", "password": STRONG_PASSWORD})
    assert (status, body.get("code")) == (400, "INVALID_EMAIL"), body
    assert await app_client.backend.users.get_user_by_email("al\u0131ce@example.com") is None
    assert await app_client.backend.users.count_users() == 1
