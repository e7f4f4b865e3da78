"""Sign-up, sign-in, sign-out and get-session: better-auth's bodies, answers and error codes."""

from __future__ import annotations

import pytest

from localcore.auth import AUTH_SERVICE
from localcore.auth.passwords import legacy_scrypt_hash
from localcore.auth.tokens import hash_token
from tests.api.auth_support import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
    AuthClient,
    ClientFactory,
    disabled_mailer,
    make_config,
)

# ----------------------------------------------------------------------------- sign-up


async def test_sign_up_returns_token_and_user_sets_the_cookie_and_mails_a_verification_link(
        app_client: AuthClient) -> None:
    response = await app_client.http.post("/auth/sign-up/email", json={
        "name": "Ada Lovelace", "email": "  Ada@Example.COM ", "password": STRONG_PASSWORD})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "user"}
    user = body["user"]
    assert set(user) == {"id", "name", "email", "emailVerified", "image", "createdAt", "updatedAt"}
    assert user["email"] == "ada@example.com"
    assert user["name"] == "Ada Lovelace"
    assert user["emailVerified"] is False
    assert user["createdAt"].endswith("Z")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("boring-app.session_token=")
    for attribute in ("HttpOnly", "Path=/", "SameSite=Lax", "Max-Age=2592000"):
        assert attribute in cookie
    assert "Secure" not in cookie  # http auth URL
    mails = await app_client.mails("ada@example.com", "Verify your")
    assert len(mails) == 1 and mails[0]["subject"] == "Verify your boring-app email address"
    assert (await app_client.session())["user"]["id"] == user["id"]


async def test_secure_cookie_gets_the_secure_prefix(make_client: ClientFactory) -> None:
    client = await make_client(make_config(SESSION_COOKIE_SECURE="true"))
    response = await client.http.post("/auth/sign-up/email", json={
        "name": "", "email": "ada@example.com", "password": STRONG_PASSWORD})
    assert response.status == 200
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("__Secure-boring-app.session_token=")
    assert "Secure" in cookie


@pytest.mark.parametrize("password", ["password", "12345678", "qwerty123", "ada@example.com"])
async def test_weak_passwords_are_refused(app_client: AuthClient, password: str) -> None:
    body = await app_client.sign_up(password=password, expect=400)
    assert body == {"code": "WEAK_PASSWORD", "message": "This password is too common. Please choose another."}
    assert await app_client.backend.users.get_user_by_email("ada@example.com") is None


async def test_strong_passphrase_is_accepted(app_client: AuthClient) -> None:
    await app_client.sign_up(password="correct-horse-battery-staple")


async def test_password_length_bounds(app_client: AuthClient) -> None:
    assert (await app_client.sign_up(password="Zk8$mN!", expect=400))["code"] == "PASSWORD_TOO_SHORT"
    assert (await app_client.sign_up(password="Zk8$mN!q" * 17, expect=400))["code"] == "PASSWORD_TOO_LONG"


async def test_duplicate_email_is_422_before_the_strength_check(app_client: AuthClient) -> None:
    await app_client.sign_up()
    body = await app_client.sign_up("ADA@example.com", password="password", expect=422)
    assert body["code"] == "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL"


@pytest.mark.parametrize("email", ["not-an-email", "a@b", "a..b@example.com", "@example.com"])
async def test_malformed_email_is_invalid_email(app_client: AuthClient, email: str) -> None:
    assert (await app_client.sign_up(email, expect=400))["code"] == "INVALID_EMAIL"


async def test_missing_fields_are_a_validation_error(app_client: AuthClient) -> None:
    response = await app_client.http.post("/auth/sign-up/email", json={"email": "ada@example.com"})
    assert response.status == 400
    body = await response.json()
    assert body["code"] == "VALIDATION_ERROR"
    assert "name" in body["message"] and "password" in body["message"]


async def test_sign_up_creates_exactly_one_default_workspace_owned_by_the_user(app_client: AuthClient) -> None:
    user = (await app_client.sign_up())["user"]
    workspaces = await app_client.backend.workspaces.list_workspaces(user["id"], "boring-app")
    assert [(w.name, w.is_default, w.created_by) for w in workspaces] == [("Default workspace", True, user["id"])]
    assert await app_client.backend.workspaces.get_member_role(workspaces[0].id, user["id"]) == "owner"


async def test_sign_up_sends_the_welcome_mail_unless_turned_off(make_client: ClientFactory) -> None:
    client = await make_client()
    await client.sign_up()
    assert len(await client.mails("ada@example.com", "Welcome to")) == 1
    quiet = await make_client(make_config(SEND_WELCOME_EMAIL="false"))
    await quiet.sign_up("bob@example.com")
    assert await quiet.mails("bob@example.com", "Welcome to") == []
    assert len(await quiet.mails("bob@example.com", "Verify")) == 1


async def test_sign_up_without_mail_sends_nothing_and_still_signs_in(make_client: ClientFactory) -> None:
    config = make_config()
    client = await make_client(config, mailer=disabled_mailer(config))
    body = await client.sign_up()
    assert body["user"]["email"] == "ada@example.com"
    await client.drain()
    assert (await client.session())["user"]["email"] == "ada@example.com"
    mailbox = await client.http.get("/api/dev/mail", headers={"x-dev-mailbox-token": config.dev_mailbox_token})
    assert mailbox.status == 404


async def test_invite_token_is_reported_unusable_until_invites_exist(app_client: AuthClient) -> None:
    response = await app_client.http.post(
        "/auth/sign-up/email", headers={"x-invite-token": "some-token"},
        json={"name": "Ada", "email": "ada@example.com", "password": STRONG_PASSWORD})
    assert response.status == 200
    cookies = response.headers.getall("Set-Cookie")
    failed = [c for c in cookies if c.startswith("boring_invite_failed=")]
    assert failed and "invite_not_found" in failed[0] and "Max-Age=60" in failed[0]
    user = (await response.json())["user"]
    assert [w.name for w in await app_client.backend.workspaces.list_workspaces(user["id"], "boring-app")] == [
        "Default workspace"]


async def test_an_installed_invite_acceptor_replaces_the_default_workspace(app_client: AuthClient) -> None:
    from localcore.auth import InviteOutcome, set_invite_acceptor
    from localcore.store import User

    seen: list[tuple[str, str]] = []

    class Acceptor:
        async def accept_after_signup(self, user: User, invite_token: str) -> InviteOutcome:
            seen.append((user.email, invite_token))
            return InviteOutcome(accepted=True)

    set_invite_acceptor(app_client.app, Acceptor())
    response = await app_client.http.post(
        "/auth/sign-up/email", headers={"x-invite-token": "tok"},
        json={"name": "Ada", "email": "ada@example.com", "password": STRONG_PASSWORD})
    assert response.status == 200
    assert seen == [("ada@example.com", "tok")]
    user = (await response.json())["user"]
    assert await app_client.backend.workspaces.list_workspaces(user["id"], "boring-app") == []
    assert await app_client.mails("ada@example.com", "Welcome") == []


async def test_callback_url_on_a_foreign_origin_is_refused(app_client: AuthClient) -> None:
    body = await app_client.sign_up(callbackURL="https://evil.example.net/x", expect=403)
    assert body["code"] == "INVALID_CALLBACK_URL"
    await app_client.sign_up(callbackURL="https://app.example.com/welcome")


async def test_only_the_hash_of_the_session_token_is_stored(app_client: AuthClient) -> None:
    body = await app_client.sign_up()
    sessions = await app_client.backend.sessions.list_sessions(body["user"]["id"])
    assert [s.token_hash for s in sessions] == [hash_token(body["token"])]
    assert body["token"] not in repr(sessions)


async def test_password_is_stored_as_argon2id(app_client: AuthClient) -> None:
    user = (await app_client.sign_up())["user"]
    credential = await app_client.backend.users.get_credential(user["id"])
    assert credential is not None and credential.password_hash is not None
    assert credential.password_hash.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    assert STRONG_PASSWORD not in credential.password_hash


# ----------------------------------------------------------------------------- sign-in


async def test_sign_in_returns_the_better_auth_shape(app_client: AuthClient) -> None:
    await app_client.sign_up()
    app_client.http.session.cookie_jar.clear()
    body = await app_client.sign_in("ADA@example.com")
    assert set(body) == {"redirect", "token", "user"}
    assert body["redirect"] is False and body["user"]["email"] == "ada@example.com"
    with_callback = await app_client.sign_in(callbackURL="/workspace")
    assert with_callback["redirect"] is True and with_callback["url"] == "/workspace"


async def test_wrong_password_and_unknown_email_get_the_same_answer(app_client: AuthClient) -> None:
    await app_client.sign_up()
    app_client.http.session.cookie_jar.clear()
    wrong = await app_client.sign_in(password=OTHER_STRONG_PASSWORD, expect=401)
    unknown = await app_client.sign_in("nobody@example.com", expect=401)
    assert wrong == unknown == {"code": "INVALID_EMAIL_OR_PASSWORD", "message": "Invalid email or password"}
    assert await app_client.session() is None


async def test_unknown_email_costs_one_argon2_verification_like_a_wrong_password(app_client: AuthClient) -> None:
    await app_client.sign_up()
    hasher = app_client.app[AUTH_SERVICE].hasher
    calls: list[str] = []
    original = hasher._verify_argon

    def counting(stored: str, password: str):  # type: ignore[no-untyped-def]
        calls.append(stored[:9])
        return original(stored, password)

    hasher._verify_argon = counting  # type: ignore[method-assign]
    await app_client.sign_in("nobody@example.com", expect=401)
    await app_client.sign_in(password=OTHER_STRONG_PASSWORD, expect=401)
    # The same work either way (one argon2id verification with the same parameters) is what makes the
    # timing equal; wall-clock ratios are left to bench/, where load cannot make a test flake.
    assert calls == ["$argon2id", "$argon2id"]


async def test_remember_me_false_gives_a_browser_session_cookie_and_a_one_day_session(
        app_client: AuthClient) -> None:
    await app_client.sign_up()
    app_client.http.session.cookie_jar.clear()
    response = await app_client.http.post("/auth/sign-in/email", json={
        "email": "ada@example.com", "password": STRONG_PASSWORD, "rememberMe": False})
    assert response.status == 200
    cookies = response.headers.getall("Set-Cookie")
    session_cookie = next(c for c in cookies if c.startswith("boring-app.session_token="))
    assert "Max-Age" not in session_cookie
    assert any(c.startswith("boring-app.dont_remember=") for c in cookies)
    session = (await app_client.session())["session"]
    user_id = (await response.json())["user"]["id"]
    stored = next(s for s in await app_client.backend.sessions.list_sessions(user_id) if s.id == session["id"])
    assert (stored.expires_at - app_client.clock()).total_seconds() == 86400


async def test_legacy_scrypt_hash_signs_in_and_is_upgraded_to_argon2id(app_client: AuthClient) -> None:
    legacy = legacy_scrypt_hash("Zk8$mN!qR2xFgWpJ")
    user = await app_client.backend.users.create_user(email="imported@example.com", name="Imported",
                                                      password_hash=legacy)
    await app_client.sign_in("imported@example.com", OTHER_STRONG_PASSWORD, expect=401)
    credential = await app_client.backend.users.get_credential(user.id)
    assert credential is not None and credential.password_hash == legacy  # a failed sign-in changes nothing
    await app_client.sign_in("imported@example.com", "Zk8$mN!qR2xFgWpJ")
    credential = await app_client.backend.users.get_credential(user.id)
    assert credential is not None and credential.password_hash is not None
    assert credential.password_hash.startswith("$argon2id$")
    app_client.http.session.cookie_jar.clear()
    await app_client.sign_in("imported@example.com", "Zk8$mN!qR2xFgWpJ")


async def test_passwordless_account_cannot_sign_in_with_a_password(app_client: AuthClient) -> None:
    await app_client.backend.users.create_user(email="magic@example.com", name="M", email_verified=True)
    assert (await app_client.sign_in("magic@example.com", expect=401))["code"] == "INVALID_EMAIL_OR_PASSWORD"


# ----------------------------------------------------------------------------- sign-out, get-session


async def test_get_session_without_a_cookie_is_null_not_401(app_client: AuthClient) -> None:
    response = await app_client.http.get("/auth/get-session")
    assert response.status == 200
    assert await response.json() is None


async def test_get_session_has_better_auths_shape_with_the_callers_own_token(app_client: AuthClient) -> None:
    body = await app_client.sign_up()
    data = await app_client.session()
    assert set(data) == {"session", "user"}
    assert set(data["session"]) == {"id", "token", "userId", "expiresAt", "createdAt", "updatedAt", "ipAddress",
                                    "userAgent"}
    assert data["session"]["expiresAt"] == "2026-01-31T12:00:00.000Z"
    # The caller's own token (as sign-up returned it); it authenticates nothing without the signed cookie.
    assert data["session"]["token"] == body["token"]


async def test_sign_out_expires_the_cookie_and_the_old_cookie_stops_working(app_client: AuthClient) -> None:
    await app_client.sign_up()
    old_cookie = app_client.cookie("boring-app.session_token")
    assert old_cookie
    assert (await app_client.http.get("/api/v1/me")).status == 200
    response = await app_client.http.post("/auth/sign-out", json={})
    assert response.status == 200
    assert await response.json() == {"success": True}
    cleared = response.headers["Set-Cookie"]
    assert cleared.startswith("boring-app.session_token=") and "Max-Age=0" in cleared
    replay = await app_client.http.get("/api/v1/me", headers={"Cookie": f"boring-app.session_token={old_cookie}"})
    assert replay.status == 401
    assert (await app_client.http.post("/auth/sign-out", json={})).status == 200  # idempotent


async def test_a_forged_cookie_reads_as_signed_out(app_client: AuthClient) -> None:
    body = await app_client.sign_up()
    token = body["token"]
    app_client.http.session.cookie_jar.clear()
    for value in (token, f"{token}.AAAA", f"{token}.{'A' * 43}%3D", "garbage"):
        response = await app_client.http.get("/auth/get-session",
                                             headers={"Cookie": f"boring-app.session_token={value}"})
        assert await response.json() is None
        assert "Max-Age=0" in response.headers.get("Set-Cookie", "")
