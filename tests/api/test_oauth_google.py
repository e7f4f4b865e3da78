"""Google sign-in against a real fake provider on loopback (authorize, token and userinfo endpoints).

The fake checks what Google checks: the client credentials, the redirect URI, single-use codes and the
PKCE verifier against the S256 challenge it was given. Runs on every backend.
"""

from __future__ import annotations

import base64
import hashlib
import secrets
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlencode, urlsplit

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer

from localcore import load_config
from localcore.appkeys import CONFIG
from localcore.config import Config
from tests.api.auth_support import BASE_ENV, STRONG_PASSWORD, AuthClient, ClientFactory

CLIENT_ID = "localcore-test-client"
CLIENT_SECRET = "fake-google-secret-" + "z" * 20


@dataclass
class FakeGoogle:
    """Who signs in next, and what the fake saw."""

    user: dict[str, Any] = field(default_factory=lambda: {
        "sub": "1001", "email": "ada@example.com", "email_verified": True, "name": "Ada Lovelace",
        "picture": "https://example.com/ada.png"})
    codes: dict[str, dict[str, Any]] = field(default_factory=dict)
    tokens: dict[str, dict[str, Any]] = field(default_factory=dict)
    verified_pkce: int = 0
    refused: list[str] = field(default_factory=list)
    deny: bool = False

    def app(self) -> web.Application:
        app = web.Application()
        app.router.add_get("/o/oauth2/v2/auth", self.authorize)
        app.router.add_post("/token", self.token)
        app.router.add_get("/v1/userinfo", self.userinfo)
        return app

    async def authorize(self, request: web.Request) -> web.Response:
        q = request.query
        assert q["client_id"] == CLIENT_ID and q["response_type"] == "code"
        assert q["code_challenge_method"] == "S256" and len(q["code_challenge"]) == 43
        assert set(q["scope"].split()) >= {"openid", "email", "profile"}
        target = q["redirect_uri"]
        if self.deny:
            return web.Response(status=302, headers={
                "Location": f"{target}?{urlencode({'error': 'access_denied', 'state': q['state']})}"})
        code = secrets.token_urlsafe(16)
        self.codes[code] = {"challenge": q["code_challenge"], "redirect_uri": target, "user": dict(self.user)}
        return web.Response(status=302, headers={
            "Location": f"{target}?{urlencode({'code': code, 'state': q['state']})}"})

    async def token(self, request: web.Request) -> web.Response:
        form = await request.post()
        grant = self.codes.pop(str(form.get("code")), None)  # codes are single-use
        verifier = str(form.get("code_verifier", ""))
        challenge = base64.urlsafe_b64encode(hashlib.sha256(verifier.encode()).digest()).rstrip(b"=").decode()
        problems = []
        if form.get("client_id") != CLIENT_ID or form.get("client_secret") != CLIENT_SECRET:
            problems.append("client")
        if form.get("grant_type") != "authorization_code":
            problems.append("grant_type")
        if grant is None:
            problems.append("code")
        elif grant["redirect_uri"] != form.get("redirect_uri"):
            problems.append("redirect_uri")
        elif grant["challenge"] != challenge:
            problems.append("pkce")
        if problems:
            self.refused.extend(problems)
            return web.json_response({"error": "invalid_grant"}, status=400)
        assert grant is not None
        self.verified_pkce += 1
        access = secrets.token_urlsafe(16)
        self.tokens[access] = grant["user"]
        return web.json_response({"access_token": access, "token_type": "Bearer", "expires_in": 3599})

    async def userinfo(self, request: web.Request) -> web.Response:
        auth = request.headers.get("Authorization", "")
        user = self.tokens.get(auth.removeprefix("Bearer "))
        if user is None:
            return web.json_response({"error": "invalid_token"}, status=401)
        return web.json_response(user)


@pytest.fixture
async def google(aiohttp_server: Any) -> tuple[FakeGoogle, TestServer]:
    fake = FakeGoogle()
    server = await aiohttp_server(fake.app())
    return fake, server


def google_config(tmp_path: Path, server: TestServer, *, flag: bool = True, **env: str) -> Config:
    toml = tmp_path / "boring.app.toml"
    toml.write_text(f"[features]\ngoogle_oauth = {'true' if flag else 'false'}\n")
    base = str(server.make_url("")).rstrip("/")
    return load_config(toml, env={
        **BASE_ENV, "GOOGLE_CLIENT_ID": CLIENT_ID, "GOOGLE_CLIENT_SECRET": CLIENT_SECRET,
        "GOOGLE_AUTHORIZE_URL": f"{base}/o/oauth2/v2/auth", "GOOGLE_TOKEN_URL": f"{base}/token",
        "GOOGLE_USERINFO_URL": f"{base}/v1/userinfo", **env})


@pytest.fixture
async def oauth_client(make_client: ClientFactory, tmp_path: Path,
                       google: tuple[FakeGoogle, TestServer]) -> AuthClient:
    return await make_client(google_config(tmp_path, google[1]))


async def start(client: AuthClient, **body: Any) -> str:
    response = await client.http.post("/auth/sign-in/social", json={"provider": "google", **body})
    assert response.status == 200, await response.text()
    data = await response.json()
    assert data["redirect"] is True and response.headers["Location"] == data["url"]
    return str(data["url"])


async def through_google(client: AuthClient, authorize_url: str) -> str:
    """The browser at Google: returns the path + query Google sends it back to."""
    response = await client.http.session.get(authorize_url, allow_redirects=False)
    assert response.status == 302
    back = urlsplit(response.headers["Location"])
    assert f"{back.scheme}://{back.netloc}{back.path}" == "http://127.0.0.1/auth/callback/google"
    return f"{back.path}?{back.query}"


async def callback(client: AuthClient, path: str) -> str:
    response = await client.http.get(path, allow_redirects=False)
    assert response.status == 302
    return response.headers["Location"]


async def test_a_new_google_user_is_created_signed_in_and_sent_to_the_new_user_page(
        oauth_client: AuthClient, google: tuple[FakeGoogle, TestServer]) -> None:
    fake, _ = google
    url = await start(oauth_client, callbackURL="/workspace", newUserCallbackURL="/welcome")
    query = parse_qs(urlsplit(url).query)
    assert query["redirect_uri"] == ["http://127.0.0.1/auth/callback/google"]
    assert query["code_challenge_method"] == ["S256"]
    assert await callback(oauth_client, await through_google(oauth_client, url)) == "/welcome"
    assert fake.verified_pkce == 1 and fake.refused == []
    user = (await oauth_client.session())["user"]
    assert (user["email"], user["name"], user["emailVerified"], user["image"]) == (
        "ada@example.com", "Ada Lovelace", True, "https://example.com/ada.png")
    account = await oauth_client.backend.users.get_account("google", "1001")
    assert account is not None and account.user_id == user["id"]
    workspaces = await oauth_client.backend.workspaces.list_workspaces(user["id"], "boring-app")
    assert [w.name for w in workspaces] == ["Default workspace"]


async def test_a_returning_google_user_signs_into_the_same_account(
        oauth_client: AuthClient, google: tuple[FakeGoogle, TestServer]) -> None:
    url = await start(oauth_client, callbackURL="/workspace", newUserCallbackURL="/welcome")
    await callback(oauth_client, await through_google(oauth_client, url))
    first = (await oauth_client.session())["user"]["id"]
    await oauth_client.sign_out()
    url = await start(oauth_client, callbackURL="/workspace", newUserCallbackURL="/welcome")
    assert await callback(oauth_client, await through_google(oauth_client, url)) == "/workspace"
    assert (await oauth_client.session())["user"]["id"] == first
    assert await oauth_client.backend.users.count_users() == 1
    assert google[0].verified_pkce == 2


async def test_a_callback_in_another_browser_is_refused(oauth_client: AuthClient, make_client: ClientFactory,
                                                        tmp_path: Path,
                                                        google: tuple[FakeGoogle, TestServer]) -> None:
    url = await start(oauth_client)
    back = await through_google(oauth_client, url)
    victim = await make_client(google_config(tmp_path, google[1]))
    location = await callback(victim, back)  # no state cookie: login CSRF attempt
    assert location == "/auth/error?error=state_mismatch"
    assert await victim.session() is None
    assert google[0].verified_pkce == 0  # refused before the code was ever exchanged


async def test_a_tampered_or_replayed_state_is_refused(oauth_client: AuthClient) -> None:
    url = await start(oauth_client)
    back = urlsplit(await through_google(oauth_client, url))
    params = parse_qs(back.query)
    forged = f"{back.path}?{urlencode({'code': params['code'][0], 'state': 'x' + params['state'][0]})}"
    assert await callback(oauth_client, forged) == "/auth/error?error=state_mismatch"
    assert await oauth_client.session() is None
    url = await start(oauth_client)
    good = await through_google(oauth_client, url)
    assert await callback(oauth_client, good) == "/"
    await oauth_client.sign_out()
    url2 = await start(oauth_client)  # a fresh state cookie; replaying the old, used-up state fails
    assert url2 != url
    assert (await callback(oauth_client, good)).endswith("error=state_mismatch")


async def test_the_pkce_verifier_is_checked_by_the_provider(oauth_client: AuthClient,
                                                            google: tuple[FakeGoogle, TestServer]) -> None:
    fake, _ = google
    url = await start(oauth_client, errorCallbackURL="/auth/signin")
    back = await through_google(oauth_client, url)
    code = parse_qs(urlsplit(back).query)["code"][0]
    # An injected code that was issued for someone else's challenge cannot be redeemed with ours.
    fake.codes[code]["challenge"] = base64.urlsafe_b64encode(hashlib.sha256(b"other").digest()).rstrip(b"=").decode()
    assert await callback(oauth_client, back) == "/auth/signin?error=invalid_code"
    assert fake.refused == ["pkce"]
    assert await oauth_client.session() is None


async def test_denied_consent_goes_to_the_error_callback(oauth_client: AuthClient,
                                                         google: tuple[FakeGoogle, TestServer]) -> None:
    google[0].deny = True
    url = await start(oauth_client, callbackURL="/", errorCallbackURL="/auth/signin")
    assert await callback(oauth_client, await through_google(oauth_client, url)) == "/auth/signin?error=access_denied"


async def test_google_links_to_an_existing_account_when_google_verified_the_address(
        oauth_client: AuthClient, make_client: ClientFactory) -> None:
    other_device = await make_client(oauth_client.app[CONFIG])
    user = (await oauth_client.sign_up())["user"]
    await other_device.sign_in()
    await oauth_client.sign_out()
    url = await start(oauth_client, callbackURL="/workspace")
    assert await callback(oauth_client, await through_google(oauth_client, url)) == "/workspace"
    session = await oauth_client.session()
    assert session["user"]["id"] == user["id"] and session["user"]["emailVerified"] is True
    # The password was set by someone who never proved they own the mailbox: it is gone, and so are the
    # sessions it opened (pre-account-takeover defence).
    assert await other_device.session() is None
    await oauth_client.sign_in(expect=401)


async def test_a_verified_local_account_keeps_its_password_when_google_is_linked(
        oauth_client: AuthClient) -> None:
    user = (await oauth_client.sign_up())["user"]
    await oauth_client.backend.users.update_user(user["id"], email_verified=True)
    await oauth_client.sign_out()
    url = await start(oauth_client)
    await callback(oauth_client, await through_google(oauth_client, url))
    assert (await oauth_client.session())["user"]["id"] == user["id"]
    await oauth_client.sign_out()
    await oauth_client.sign_in(password=STRONG_PASSWORD)


async def test_an_unverified_google_address_is_not_linked(oauth_client: AuthClient,
                                                          google: tuple[FakeGoogle, TestServer]) -> None:
    await oauth_client.sign_up()
    await oauth_client.sign_out()
    google[0].user["email_verified"] = False
    url = await start(oauth_client, errorCallbackURL="/auth/signin")
    assert await callback(oauth_client, await through_google(oauth_client, url)) == (
        "/auth/signin?error=account_not_linked")
    assert await oauth_client.session() is None


async def test_google_needs_the_flag_and_both_credentials(make_client: ClientFactory, tmp_path: Path,
                                                          google: tuple[FakeGoogle, TestServer]) -> None:
    off = await make_client(google_config(tmp_path, google[1], flag=False))
    response = await off.http.post("/auth/sign-in/social", json={"provider": "google"})
    assert response.status == 404 and (await response.json())["code"] == "PROVIDER_NOT_FOUND"
    assert (await (await off.http.get("/api/v1/config")).json())["features"]["googleOauth"] is False
    on = await make_client(google_config(tmp_path, google[1]))
    assert (await (await on.http.get("/api/v1/config")).json())["features"]["googleOauth"] is True
    github = await on.http.post("/auth/sign-in/social", json={"provider": "github"})
    assert github.status == 404 and (await github.json())["code"] == "PROVIDER_NOT_FOUND"
    unknown = await on.http.post("/auth/sign-in/social", json={"provider": "myspace"})
    assert unknown.status == 400


async def test_social_sign_in_refuses_foreign_callbacks(oauth_client: AuthClient) -> None:
    response = await oauth_client.http.post("/auth/sign-in/social", json={
        "provider": "google", "callbackURL": "https://evil.example.net/"})
    assert response.status == 403 and (await response.json())["code"] == "INVALID_CALLBACK_URL"


async def test_disable_redirect_omits_the_location_header(oauth_client: AuthClient) -> None:
    response = await oauth_client.http.post("/auth/sign-in/social",
                                            json={"provider": "google", "disableRedirect": True})
    body = await response.json()
    assert body["redirect"] is False and "Location" not in response.headers
    assert body["url"].startswith("http://127.0.0.1:")
