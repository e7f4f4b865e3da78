"""Mailed one-time links: email verification, password reset, magic link.

Tokens are random, stored hashed, single-use and live exactly the configured TTL, which the mail states.
A browser opening a link (``Accept: text/html``) or a HEAD request never uses it (scanner-safe links).
"""

from __future__ import annotations

import asyncio
from urllib.parse import parse_qs, urlsplit

import pytest

from localcore.auth.tokens import hash_token
from localcore.shell import shell_key
from tests.api.auth_support import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
    AuthClient,
    ClientFactory,
    disabled_mailer,
    make_config,
)

HTML = {"Accept": "text/html,application/xhtml+xml"}


def token_of(path: str) -> str:
    query = parse_qs(urlsplit(path).query)
    if "token" in query:
        return query["token"][0]
    return urlsplit(path).path.rsplit("/", 1)[1]


async def _verification_link(client: AuthClient, email: str = "ada@example.com") -> str:
    return await client.link(email, "Verify your", "/auth/verify-email")


def _has_shell(client: AuthClient) -> bool:
    return client.app[shell_key].index(None) is not None


# ----------------------------------------------------------------------------- verification


async def test_verification_mail_states_the_real_ttl_and_links_to_verify(make_client: ClientFactory) -> None:
    client = await make_client(make_config(EMAIL_VERIFICATION_TTL_SECONDS="7200"))
    await client.sign_up()
    mail = (await client.mails("ada@example.com", "Verify"))[0]
    assert "2 hours" in mail["text"]
    link = await _verification_link(client)
    assert link.startswith("/auth/verify-email?token=") and "callbackURL=%2F" in link
    token = token_of(link)
    stored = await client.backend.tokens.get_token("verify-email", hash_token(token))
    assert stored is not None
    assert (stored.expires_at - client.clock()).total_seconds() == 7200
    assert token not in str(stored)


async def test_browser_get_and_head_do_not_use_the_verification_token(app_client: AuthClient) -> None:
    await app_client.sign_up()
    link = await _verification_link(app_client)
    for _ in range(2):
        page = await app_client.http.get(link, headers=HTML, allow_redirects=False)
        assert page.status == (200 if _has_shell(app_client) else 503)
        if page.status == 200:
            assert page.content_type == "text/html"
        head = await app_client.http.head(link, headers=HTML, allow_redirects=False)
        assert head.status == page.status
        json_head = await app_client.http.head(link, allow_redirects=False)
        assert json_head.status == 404  # HEAD is never the JSON GET that uses the token
    user = (await app_client.session())["user"]
    assert user["emailVerified"] is False
    response = await app_client.http.post("/auth/verify-email", json={"token": token_of(link)})
    assert response.status == 200 and await response.json() == {"status": True}
    assert (await app_client.session())["user"]["emailVerified"] is True


async def test_verification_post_is_single_use(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _verification_link(app_client))
    assert (await app_client.http.post("/auth/verify-email", json={"token": token})).status == 200
    again = await app_client.http.post("/auth/verify-email", json={"token": token})
    assert again.status == 401
    assert (await again.json())["code"] == "INVALID_TOKEN"


async def test_json_get_verifies_and_redirects_like_upstream(app_client: AuthClient) -> None:
    await app_client.sign_up()
    link = await _verification_link(app_client)
    response = await app_client.http.get(link, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/"
    assert (await app_client.session())["user"]["emailVerified"] is True
    used = await app_client.http.get(link, allow_redirects=False)
    assert used.status == 302 and used.headers["Location"] == "/?error=INVALID_TOKEN"
    no_callback = await app_client.http.get("/auth/verify-email", params={"token": token_of(link)})
    assert no_callback.status == 401 and (await no_callback.json())["code"] == "INVALID_TOKEN"


async def test_json_get_without_callback_answers_status_true(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _verification_link(app_client))
    response = await app_client.http.get("/auth/verify-email", params={"token": token})
    assert response.status == 200
    assert await response.json() == {"status": True, "user": None}


async def test_expired_verification_token_is_refused(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _verification_link(app_client))
    app_client.clock.advance(hours=24)
    response = await app_client.http.post("/auth/verify-email", json={"token": token})
    assert response.status == 401 and (await response.json())["code"] == "TOKEN_EXPIRED"
    assert (await app_client.session())["user"]["emailVerified"] is False


async def test_verification_link_with_a_foreign_callback_is_refused(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _verification_link(app_client))
    response = await app_client.http.get("/auth/verify-email", allow_redirects=False,
                                         params={"token": token, "callbackURL": "//evil.example.net"})
    assert response.status == 403 and (await response.json())["code"] == "INVALID_CALLBACK_URL"


async def test_resend_answers_the_same_for_unknown_verified_and_unverified(make_client: ClientFactory) -> None:
    client = await make_client()
    await client.sign_up()
    client.http.session.cookie_jar.clear()
    answers = []
    for email in ("ada@example.com", "nobody@example.com"):
        response = await client.http.post("/auth/send-verification-email",
                                          json={"email": email, "callbackURL": "/auth/verify-email"})
        answers.append((response.status, await response.json()))
    assert answers == [(200, {"status": True})] * 2
    assert len(await client.mails("ada@example.com", "Verify")) == 2
    assert await client.mails("nobody@example.com") == []


async def test_resend_replaces_the_previous_link(app_client: AuthClient) -> None:
    await app_client.sign_up()
    first = token_of(await _verification_link(app_client))
    await app_client.http.post("/auth/send-verification-email", json={"email": "ada@example.com"})
    await app_client.drain()
    second = token_of(await _verification_link(app_client))
    assert first != second
    assert (await app_client.http.post("/auth/verify-email", json={"token": first})).status == 401
    assert (await app_client.http.post("/auth/verify-email", json={"token": second})).status == 200


async def test_resend_with_a_session_checks_the_address(app_client: AuthClient) -> None:
    await app_client.sign_up()
    mismatch = await app_client.http.post("/auth/send-verification-email", json={"email": "other@example.com"})
    assert mismatch.status == 400 and (await mismatch.json())["code"] == "EMAIL_MISMATCH"
    token = token_of(await _verification_link(app_client))
    await app_client.http.post("/auth/verify-email", json={"token": token})
    again = await app_client.http.post("/auth/send-verification-email", json={"email": "ada@example.com"})
    assert again.status == 400 and (await again.json())["code"] == "EMAIL_ALREADY_VERIFIED"


async def test_resend_without_mail_is_not_enabled(make_client: ClientFactory) -> None:
    config = make_config()
    client = await make_client(config, mailer=disabled_mailer(config))
    response = await client.http.post("/auth/send-verification-email", json={"email": "ada@example.com"})
    assert response.status == 400
    assert (await response.json())["code"] == "VERIFICATION_EMAIL_NOT_ENABLED"


# ----------------------------------------------------------------------------- password reset


async def _request_reset(client: AuthClient, email: str = "ada@example.com") -> str:
    response = await client.http.post("/auth/request-password-reset",
                                      json={"email": email, "redirectTo": "/auth/reset-password"})
    assert response.status == 200
    return await client.link(email, "Reset your", "/auth/reset-password/")


async def test_reset_request_answers_identically_and_mails_only_real_accounts(make_client: ClientFactory) -> None:
    client = await make_client()
    await client.sign_up()
    answers = []
    for email in ("ada@example.com", "nobody@example.com"):
        response = await client.http.post("/auth/request-password-reset", json={"email": email, "redirectTo": "/"})
        answers.append((response.status, await response.json()))
    assert answers[0] == answers[1] == (200, {
        "status": True, "message": "If this email exists in our system, check your email for the reset link"})
    mails = await client.mails("ada@example.com", "Reset")
    assert len(mails) == 1 and mails[0]["subject"] == "Reset your boring-app password"
    assert "1 hour" in mails[0]["text"]
    assert await client.mails("nobody@example.com") == []


async def test_reset_link_redirects_to_the_form_without_using_the_token(app_client: AuthClient) -> None:
    await app_client.sign_up()
    link = await _request_reset(app_client)
    assert "callbackURL=%2Fauth%2Freset-password" in link
    token = token_of(link)
    for headers in ({}, HTML):
        response = await app_client.http.get(link, headers=headers, allow_redirects=False)
        assert response.status == 302
        assert response.headers["Location"] == f"/auth/reset-password?token={token}"
    assert await app_client.backend.tokens.get_token("reset-password", hash_token(token)) is not None


async def test_reset_sets_the_password_revokes_every_session_and_is_single_use(
        make_client: ClientFactory) -> None:
    laptop = await make_client()
    phone = await make_client()
    await laptop.sign_up()
    await phone.sign_in()
    token = token_of(await _request_reset(laptop))
    response = await laptop.http.post("/auth/reset-password",
                                      json={"token": token, "newPassword": OTHER_STRONG_PASSWORD})
    assert response.status == 200 and await response.json() == {"status": True}
    assert await laptop.session() is None and await phone.session() is None  # docs/compatibility.md, fix 11
    await laptop.sign_in(password=STRONG_PASSWORD, expect=401)
    await laptop.sign_in(password=OTHER_STRONG_PASSWORD)
    again = await laptop.http.post("/auth/reset-password", json={"token": token, "newPassword": "x" + STRONG_PASSWORD})
    assert again.status == 400 and (await again.json())["code"] == "INVALID_TOKEN"
    used_link = await laptop.http.get(f"/auth/reset-password/{token}", allow_redirects=False)
    assert used_link.headers["Location"] == "/auth/reset-password?error=INVALID_TOKEN"


async def test_a_weak_new_password_does_not_use_the_reset_token(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _request_reset(app_client))
    weak = await app_client.http.post("/auth/reset-password", json={"token": token, "newPassword": "password"})
    assert weak.status == 400 and (await weak.json())["code"] == "WEAK_PASSWORD"
    short = await app_client.http.post("/auth/reset-password", json={"token": token, "newPassword": "short"})
    assert (await short.json())["code"] == "PASSWORD_TOO_SHORT"
    ok = await app_client.http.post("/auth/reset-password", json={"token": token, "newPassword": OTHER_STRONG_PASSWORD})
    assert ok.status == 200


async def test_reset_token_expires_after_the_configured_ttl(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _request_reset(app_client))
    app_client.clock.advance(minutes=59)
    live = await app_client.http.get(f"/auth/reset-password/{token}", allow_redirects=False)
    assert "token=" in live.headers["Location"]
    app_client.clock.advance(minutes=1)
    dead = await app_client.http.get(f"/auth/reset-password/{token}", allow_redirects=False)
    assert dead.headers["Location"] == "/auth/reset-password?error=INVALID_TOKEN"
    response = await app_client.http.post("/auth/reset-password",
                                          json={"token": token, "newPassword": OTHER_STRONG_PASSWORD})
    assert response.status == 400 and (await response.json())["code"] == "INVALID_TOKEN"


async def test_concurrent_resets_with_one_token_have_exactly_one_winner(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _request_reset(app_client))
    results = await asyncio.gather(*(
        app_client.http.post("/auth/reset-password",
                             json={"token": token, "newPassword": f"{OTHER_STRONG_PASSWORD}{i}"})
        for i in range(4)))
    assert sorted(r.status for r in results) == [200, 400, 400, 400]


async def test_reset_token_may_come_in_the_query(app_client: AuthClient) -> None:
    await app_client.sign_up()
    token = token_of(await _request_reset(app_client))
    response = await app_client.http.post("/auth/reset-password", params={"token": token},
                                          json={"newPassword": OTHER_STRONG_PASSWORD})
    assert response.status == 200


async def test_reset_request_refuses_foreign_redirects_and_needs_mail(make_client: ClientFactory) -> None:
    client = await make_client()
    response = await client.http.post("/auth/request-password-reset",
                                      json={"email": "ada@example.com", "redirectTo": "https://evil.example.net/"})
    assert response.status == 403 and (await response.json())["code"] == "INVALID_REDIRECT_URL"
    config = make_config()
    quiet = await make_client(config, mailer=disabled_mailer(config))
    response = await quiet.http.post("/auth/request-password-reset", json={"email": "ada@example.com"})
    assert response.status == 400
    assert await response.json() == {"code": "RESET_PASSWORD_DISABLED", "message": "Reset password isn't enabled"}


async def test_unknown_reset_token_is_invalid(app_client: AuthClient) -> None:
    response = await app_client.http.post("/auth/reset-password",
                                          json={"token": "not-a-token", "newPassword": OTHER_STRONG_PASSWORD})
    assert response.status == 400 and (await response.json())["code"] == "INVALID_TOKEN"


# ----------------------------------------------------------------------------- magic link


async def _magic_link(client: AuthClient, email: str = "ada@example.com", **extra: str) -> str:
    response = await client.http.post("/auth/sign-in/magic-link", json={"email": email, "callbackURL": "/", **extra})
    assert response.status == 200 and await response.json() == {"status": True}
    return await client.link(email, "Sign in to", "/auth/magic-link/verify")


async def test_magic_link_mail_states_the_real_ttl(make_client: ClientFactory) -> None:
    client = await make_client(make_config(MAGIC_LINK_TTL_SECONDS="300"))
    link = await _magic_link(client)
    mail = (await client.mails("ada@example.com", "Sign in"))[0]
    assert mail["subject"] == "Sign in to boring-app"
    assert "5 minutes" in mail["text"]
    stored = await client.backend.tokens.get_token("magic-link", hash_token(token_of(link)))
    assert stored is not None and (stored.expires_at - client.clock()).total_seconds() == 300


async def test_magic_link_creates_an_unknown_user_already_verified_with_a_default_workspace(
        app_client: AuthClient) -> None:
    link = await _magic_link(app_client, "new@example.com", name="Newcomer")
    page = await app_client.http.get(link, headers=HTML, allow_redirects=False)
    assert page.status in (200, 503)
    assert await app_client.backend.users.get_user_by_email("new@example.com") is None  # not used by opening
    response = await app_client.http.post("/auth/magic-link/verify", json={"token": token_of(link),
                                                                            "callbackURL": "/workspace"})
    assert response.status == 200
    body = await response.json()
    assert set(body) == {"token", "user", "session", "url"}
    assert body["url"] == "/workspace"
    assert body["user"]["emailVerified"] is True and body["user"]["name"] == "Newcomer"
    assert "boring-app.session_token=" in response.headers["Set-Cookie"]
    assert (await app_client.session())["user"]["email"] == "new@example.com"
    workspaces = await app_client.backend.workspaces.list_workspaces(body["user"]["id"], "boring-app")
    assert [w.name for w in workspaces] == ["Default workspace"]


async def test_magic_link_signs_in_an_existing_user_and_verifies_the_address(app_client: AuthClient) -> None:
    user = (await app_client.sign_up())["user"]
    app_client.http.session.cookie_jar.clear()
    link = await _magic_link(app_client)
    response = await app_client.http.get(link, allow_redirects=False)  # a JSON client: upstream's GET
    assert response.status == 302 and response.headers["Location"] == "/"
    session = await app_client.session()
    assert session["user"]["id"] == user["id"] and session["user"]["emailVerified"] is True


async def test_magic_link_is_single_use_even_under_concurrency(app_client: AuthClient,
                                                               make_client: ClientFactory) -> None:
    token = token_of(await _magic_link(app_client))
    clients = [await make_client() for _ in range(3)]
    results = await asyncio.gather(*(c.http.post("/auth/magic-link/verify", json={"token": token})
                                     for c in clients))
    assert sorted(r.status for r in results) == [200, 401, 401]
    users = [await app_client.backend.users.get_user_by_email("ada@example.com")]
    assert users[0] is not None


async def test_expired_magic_link_is_refused(app_client: AuthClient) -> None:
    link = await _magic_link(app_client)
    app_client.clock.advance(minutes=10)
    response = await app_client.http.post("/auth/magic-link/verify", json={"token": token_of(link)})
    assert response.status == 401 and (await response.json())["code"] == "EXPIRED_TOKEN"
    redirected = await app_client.http.get(link, allow_redirects=False)
    assert redirected.headers["Location"] == "/?error=INVALID_TOKEN"  # already used up above


async def test_magic_link_errors_redirect_to_the_error_callback(app_client: AuthClient) -> None:
    response = await app_client.http.get("/auth/magic-link/verify", allow_redirects=False, params={
        "token": "nope", "callbackURL": "/", "errorCallbackURL": "/auth/signin"})
    assert response.status == 302 and response.headers["Location"] == "/auth/signin?error=INVALID_TOKEN"


async def test_magic_link_answers_the_same_for_known_and_unknown_emails(app_client: AuthClient) -> None:
    await app_client.sign_up()
    for email in ("ada@example.com", "nobody@example.com"):
        response = await app_client.http.post("/auth/sign-in/magic-link", json={"email": email})
        assert response.status == 200 and await response.json() == {"status": True}
        assert len(await app_client.mails(email, "Sign in")) == 1


@pytest.mark.parametrize(("field", "code"), [("callbackURL", "INVALID_CALLBACK_URL"),
                                             ("newUserCallbackURL", "INVALID_NEW_USER_CALLBACK_URL"),
                                             ("errorCallbackURL", "INVALID_ERROR_CALLBACK_URL")])
async def test_magic_link_refuses_foreign_callbacks(app_client: AuthClient, field: str, code: str) -> None:
    for target in ("https://evil.example.net/", "//evil.example.net", "https://app.example.com.evil.net/",
                   "javascript:alert(1)", "/\\evil.example.net"):
        response = await app_client.http.post("/auth/sign-in/magic-link",
                                              json={"email": "ada@example.com", field: target})
        assert response.status == 403, target
        assert (await response.json())["code"] == code
    assert await app_client.mails() == []


async def test_magic_link_is_absent_without_mail(make_client: ClientFactory) -> None:
    config = make_config()
    client = await make_client(config, mailer=disabled_mailer(config))
    response = await client.http.post("/auth/sign-in/magic-link", json={"email": "ada@example.com"})
    assert response.status == 404
    verify = await client.http.post("/auth/magic-link/verify", json={"token": "x"})
    assert verify.status == 404
