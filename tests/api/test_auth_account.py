"""Signed-in account management (change password, profile, set password, change email) and the desktop
owner bootstrap (the one-time link on an empty database)."""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from localcore.auth.bootstrap import offer_bootstrap_link
from localcore.config import Config
from tests.api.auth_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, AuthClient, ClientFactory, make_config

# ----------------------------------------------------------------------------- change password


async def test_change_password_keeps_sessions_unless_asked(make_client: ClientFactory) -> None:
    laptop = await make_client()
    phone = await make_client()
    await laptop.sign_up()
    await phone.sign_in()
    response = await laptop.http.post("/auth/change-password", json={
        "currentPassword": STRONG_PASSWORD, "newPassword": OTHER_STRONG_PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert body["token"] is None and body["user"]["email"] == "ada@example.com"
    assert await phone.session() is not None
    laptop.http.session.cookie_jar.clear()
    await laptop.sign_in(password=OTHER_STRONG_PASSWORD)


async def test_change_password_with_revoke_other_sessions_rotates_this_one(make_client: ClientFactory) -> None:
    laptop = await make_client()
    phone = await make_client()
    first_token = (await laptop.sign_up())["token"]
    await phone.sign_in()
    response = await laptop.http.post("/auth/change-password", json={
        "currentPassword": STRONG_PASSWORD, "newPassword": OTHER_STRONG_PASSWORD, "revokeOtherSessions": True})
    assert response.status == 200
    body = await response.json()
    assert body["token"] and body["token"] != first_token
    assert "boring-app.session_token=" in response.headers["Set-Cookie"]
    assert await phone.session() is None
    assert (await laptop.session())["user"]["email"] == "ada@example.com"
    sessions = await (await laptop.http.get("/auth/list-sessions")).json()
    assert len(sessions) == 1


async def test_change_password_checks_the_current_one_and_the_strength(app_client: AuthClient) -> None:
    await app_client.sign_up()
    wrong = await app_client.http.post("/auth/change-password", json={
        "currentPassword": "not-my-password", "newPassword": OTHER_STRONG_PASSWORD})
    assert wrong.status == 400 and (await wrong.json())["code"] == "INVALID_PASSWORD"
    weak = await app_client.http.post("/auth/change-password", json={
        "currentPassword": STRONG_PASSWORD, "newPassword": "qwerty123"})
    assert weak.status == 400 and (await weak.json())["code"] == "WEAK_PASSWORD"
    short = await app_client.http.post("/auth/change-password", json={
        "currentPassword": STRONG_PASSWORD, "newPassword": "short"})
    assert (await short.json())["code"] == "PASSWORD_TOO_SHORT"
    app_client.http.session.cookie_jar.clear()
    await app_client.sign_in()  # nothing changed


# ----------------------------------------------------------------------------- profile


async def test_update_user_changes_name_and_image(app_client: AuthClient) -> None:
    await app_client.sign_up()
    response = await app_client.http.post("/auth/update-user", json={"name": "Countess", "image": "/me.png"})
    assert response.status == 200 and await response.json() == {"status": True}
    user = (await app_client.session())["user"]
    assert (user["name"], user["image"]) == ("Countess", "/me.png")
    await app_client.http.post("/auth/update-user", json={"image": None})
    assert (await app_client.session())["user"]["image"] is None


async def test_update_user_refuses_email_and_empty_bodies(app_client: AuthClient) -> None:
    await app_client.sign_up()
    email = await app_client.http.post("/auth/update-user", json={"email": "x@example.com"})
    assert email.status == 400 and (await email.json())["code"] == "EMAIL_CAN_NOT_BE_UPDATED"
    empty = await app_client.http.post("/auth/update-user", json={})
    assert empty.status == 400 and (await empty.json())["code"] == "NO_FIELDS_TO_UPDATE"
    typed = await app_client.http.post("/auth/update-user", json={"name": 42})
    assert typed.status == 400 and (await typed.json())["code"] == "VALIDATION_ERROR"


# ----------------------------------------------------------------------------- passwordless accounts


async def _magic_sign_in(client: AuthClient, email: str) -> None:
    await client.http.post("/auth/sign-in/magic-link", json={"email": email})
    link = await client.link(email, "Sign in", "/auth/magic-link/verify")
    token = parse_qs(urlsplit(link).query)["token"][0]
    assert (await client.http.post("/auth/magic-link/verify", json={"token": token})).status == 200


async def test_a_passwordless_account_can_set_a_password_once(app_client: AuthClient) -> None:
    await _magic_sign_in(app_client, "magic@example.com")
    weak = await app_client.http.post("/auth/set-password", json={"newPassword": "password"})
    assert (await weak.json())["code"] == "WEAK_PASSWORD"
    response = await app_client.http.post("/auth/set-password", json={"newPassword": STRONG_PASSWORD})
    assert response.status == 200
    again = await app_client.http.post("/auth/set-password", json={"newPassword": OTHER_STRONG_PASSWORD})
    assert again.status == 400 and (await again.json())["code"] == "USER_ALREADY_HAS_PASSWORD"
    app_client.http.session.cookie_jar.clear()
    await app_client.sign_in("magic@example.com", STRONG_PASSWORD)


async def test_change_password_without_a_password_says_so(app_client: AuthClient) -> None:
    await _magic_sign_in(app_client, "magic@example.com")
    response = await app_client.http.post("/auth/change-password", json={
        "currentPassword": "anything-at-all", "newPassword": OTHER_STRONG_PASSWORD})
    assert response.status == 400 and (await response.json())["code"] == "CREDENTIAL_ACCOUNT_NOT_FOUND"


async def test_an_unverified_address_can_be_changed_and_is_verified_anew(make_client: ClientFactory) -> None:
    client = await make_client()
    await client.sign_up("typo@example.con")
    other = await make_client()
    await other.sign_up("taken@example.com")
    taken = await client.http.post("/auth/change-email", json={"newEmail": "taken@example.com"})
    assert taken.status == 422
    bad = await client.http.post("/auth/change-email", json={"newEmail": "nope"})
    assert (await bad.json())["code"] == "INVALID_EMAIL"
    response = await client.http.post("/auth/change-email", json={"newEmail": "Right@Example.com"})
    assert response.status == 200
    user = (await client.session())["user"]
    assert (user["email"], user["emailVerified"]) == ("right@example.com", False)
    link = await client.link("right@example.com", "Verify", "/auth/verify-email")
    old_link = await client.link("typo@example.con", "Verify", "/auth/verify-email")
    old = await client.http.post("/auth/verify-email", json={"token": parse_qs(urlsplit(old_link).query)["token"][0]})
    assert old.status == 401  # the link to the old address no longer verifies anything
    new = await client.http.post("/auth/verify-email", json={"token": parse_qs(urlsplit(link).query)["token"][0]})
    assert new.status == 200
    assert (await client.session())["user"]["emailVerified"] is True
    refused = await client.http.post("/auth/change-email", json={"newEmail": "again@example.com"})
    assert refused.status == 400 and (await refused.json())["code"] == "EMAIL_CHANGE_NOT_ALLOWED"


# ----------------------------------------------------------------------------- desktop owner bootstrap


async def _offer(client: AuthClient) -> str:
    link = await offer_bootstrap_link(client.app, "http://127.0.0.1:8787/")
    assert link is not None and link.startswith("http://127.0.0.1:8787/auth/bootstrap?token=")
    return parse_qs(urlsplit(link).query)["token"][0]


async def test_bootstrap_creates_the_owner_and_signs_in(app_client: AuthClient) -> None:
    token = await _offer(app_client)
    page = await app_client.http.get(f"/auth/bootstrap?token={token}", headers={"Accept": "text/html"})
    assert page.status in (200, 503)  # the shell's confirm page; opening it uses nothing
    response = await app_client.http.post("/auth/bootstrap", json={"token": token})
    assert response.status == 200
    body = await response.json()
    assert body["url"] == "/"
    assert (body["user"]["email"], body["user"]["name"], body["user"]["emailVerified"]) == (
        "owner@localhost", "Owner", False)
    assert "boring-app.session_token=" in response.headers["Set-Cookie"]
    me = await (await app_client.http.get("/api/v1/me")).json()
    assert me["user"]["email"] == "owner@localhost"
    workspaces = await app_client.backend.workspaces.list_workspaces(body["user"]["id"], "boring-app")
    assert [w.name for w in workspaces] == ["Default workspace"]
    assert await app_client.mails("owner@localhost") == []  # nothing mailed to a placeholder
    again = await app_client.http.post("/auth/bootstrap", json={"token": token})
    assert again.status == 400 and (await again.json())["code"] == "BOOTSTRAP_UNAVAILABLE"
    # The owner completes the account later: a real address and a password.
    assert (await app_client.http.post("/auth/change-email", json={"newEmail": "me@example.com"})).status == 200
    assert (await app_client.http.post("/auth/set-password", json={"newPassword": STRONG_PASSWORD})).status == 200
    app_client.http.session.cookie_jar.clear()
    await app_client.sign_in("me@example.com", STRONG_PASSWORD)


async def test_bootstrap_is_offered_only_on_an_empty_database_and_when_enabled(
        app_client: AuthClient, make_client: ClientFactory) -> None:
    off = await make_client(Config.model_validate({**make_config().model_dump(), "bootstrap": False}))
    assert await offer_bootstrap_link(off.app, "http://127.0.0.1:8787") is None
    await app_client.sign_up()
    assert await offer_bootstrap_link(app_client.app, "http://127.0.0.1:8787") is None


async def test_bootstrap_is_refused_once_someone_signed_up(app_client: AuthClient) -> None:
    token = await _offer(app_client)
    await app_client.sign_up()
    response = await app_client.http.post("/auth/bootstrap", json={"token": token})
    assert response.status == 400 and (await response.json())["code"] == "BOOTSTRAP_UNAVAILABLE"


async def test_bootstrap_token_expires_after_15_minutes(app_client: AuthClient) -> None:
    token = await _offer(app_client)
    app_client.clock.advance(minutes=15)
    response = await app_client.http.post("/auth/bootstrap", json={"token": token})
    assert response.status == 400


async def test_bootstrap_is_loopback_only(make_client: ClientFactory) -> None:
    # A trusted local proxy forwarding a remote client: the resolved client is not this machine.
    client = await make_client(make_config(TRUST_PROXY="1"))
    token = await _offer(client)
    response = await client.http.post("/auth/bootstrap", json={"token": token},
                                      headers={"X-Forwarded-For": "203.0.113.7"})
    assert response.status == 403 and (await response.json())["code"] == "BOOTSTRAP_LOOPBACK_ONLY"
    ok = await client.http.post("/auth/bootstrap", json={"token": token})
    assert ok.status == 200  # the refused attempt did not use the token


async def test_concurrent_bootstrap_creates_one_owner(app_client: AuthClient, make_client: ClientFactory) -> None:
    token = await _offer(app_client)
    clients = [await make_client() for _ in range(3)]
    results = await asyncio.gather(*(c.http.post("/auth/bootstrap", json={"token": token}) for c in clients))
    assert sorted(r.status for r in results) == [200, 400, 400]
    assert await app_client.backend.users.count_users() == 1


async def test_the_cli_prints_the_bootstrap_link(app_client: AuthClient, capsys: pytest.CaptureFixture[str]) -> None:
    from localcore.serve import _offer_bootstrap

    await _offer_bootstrap(app_client.app, "http://127.0.0.1:8787")
    out = capsys.readouterr().out
    assert "first run: open http://127.0.0.1:8787/auth/bootstrap?token=" in out
