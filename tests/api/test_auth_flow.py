"""The whole email + password life cycle, the way the shell drives it, on every backend:
sign up → verification link from the dev mailbox → verify → sign out → reset through the mailed link →
sign in with the new password."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qs, urlsplit

from tests.api.auth_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, AuthClient

HTML = {"Accept": "text/html"}


def query_token(path_and_query: str) -> str:
    return parse_qs(urlsplit(path_and_query).query)["token"][0]


async def test_sign_up_verify_sign_out_reset_and_sign_in_again(app_client: AuthClient) -> None:
    client = app_client
    signed_up = await client.sign_up("grace@example.com", STRONG_PASSWORD, name="Grace Hopper")
    user_id = signed_up["user"]["id"]
    assert (await client.session())["user"]["emailVerified"] is False

    # The verification mail, read from the dev mailbox like a developer would.
    verify_link = await client.link("grace@example.com", "Verify your", "/auth/verify-email")
    page = await client.http.get(verify_link, headers=HTML)  # the browser opens the link: a page, no effect
    assert page.status == 200 and page.content_type == "text/html"
    assert (await client.session())["user"]["emailVerified"] is False
    confirmed = await client.http.post("/auth/verify-email", json={"token": query_token(verify_link)})
    assert confirmed.status == 200
    assert (await client.session())["user"]["emailVerified"] is True

    await client.sign_out()
    assert await client.session() is None
    assert (await client.http.get("/api/v1/me")).status == 401

    # Forgot password: the mailed link leads to the form with the token; the form posts the new password.
    response = await client.http.post("/auth/request-password-reset",
                                      json={"email": "grace@example.com", "redirectTo": "/auth/reset-password"})
    assert response.status == 200
    reset_link = await client.link("grace@example.com", "Reset your", "/auth/reset-password/")
    landing = await client.http.get(reset_link, headers=HTML, allow_redirects=False)
    assert landing.status == 302
    form = landing.headers["Location"]
    assert form.startswith("/auth/reset-password?token=")
    form_page = await client.http.get(form, headers=HTML)
    assert form_page.status == 200 and form_page.content_type == "text/html"
    reset = await client.http.post("/auth/reset-password",
                                   json={"token": query_token(form), "newPassword": OTHER_STRONG_PASSWORD})
    assert reset.status == 200

    await client.sign_in("grace@example.com", STRONG_PASSWORD, expect=401)
    signed_in = await client.sign_in("grace@example.com", OTHER_STRONG_PASSWORD)
    assert signed_in["user"]["id"] == user_id
    me = await (await client.http.get("/api/v1/me")).json()
    assert me["user"] == {"id": user_id, "email": "grace@example.com", "name": "Grace Hopper",
                          "emailVerified": True, "image": None}
    subjects = sorted(m["subject"] for m in await client.mails("grace@example.com"))
    assert subjects == ["Reset your boring-app password", "Verify your boring-app email address",
                        "Welcome to boring-app"]


async def test_openapi_lists_every_auth_route_with_its_models(aiohttp_client: Any) -> None:
    from backends.memory import MemoryBackend
    from localcore import create_app
    from tests.api.auth_support import make_config

    client = await aiohttp_client(create_app(make_config(), MemoryBackend()))
    document = await (await client.get("/api/openapi.json")).json()
    paths = document["paths"]
    expected = {
        "/auth/sign-up/email": "post", "/auth/sign-in/email": "post", "/auth/sign-out": "post",
        "/auth/get-session": "get", "/auth/verify-email": "get", "/auth/send-verification-email": "post",
        "/auth/request-password-reset": "post", "/auth/reset-password/{token}": "get",
        "/auth/reset-password": "post", "/auth/sign-in/magic-link": "post", "/auth/magic-link/verify": "post",
        "/auth/change-password": "post", "/auth/update-user": "post", "/auth/list-sessions": "get",
        "/auth/revoke-session": "post", "/auth/revoke-sessions": "post", "/auth/revoke-other-sessions": "post",
        "/auth/sign-in/social": "post", "/auth/callback/google": "get", "/auth/bootstrap": "post",
        "/auth/set-password": "post", "/auth/change-email": "post", "/api/v1/me": "delete",
        "/api/v1/me/settings": "put",
    }
    for path, method in expected.items():
        assert method in paths.get(path, {}), path
    sign_up = paths["/auth/sign-up/email"]["post"]
    assert sign_up["requestBody"]["content"]["application/json"]["schema"] == {
        "$ref": "#/components/schemas/SignUpBody"}
    assert set(document["components"]["schemas"]["SignUpBody"]["required"]) == {"name", "email", "password"}
    assert "post" in paths["/auth/verify-email"] and "get" in paths["/api/v1/me"]
