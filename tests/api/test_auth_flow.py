"""The whole email + password life cycle, the way the shell drives it, on every backend:
sign up → verification link from the dev mailbox → verify → sign out → reset through the mailed link →
sign in with the new password."""

from __future__ import annotations

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
