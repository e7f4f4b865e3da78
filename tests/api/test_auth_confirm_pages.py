"""The mailed one-time links work behind any front: their confirm pages are rendered by the server, with no
shell asset at all (the app here has an empty web root, as when another front serves the origin).

Each page is one HTML document: inline styles with the request's CSP nonce, no script, a plain form that
POSTs the token; opening it uses nothing, the POST acts and redirects to the validated callback.
"""

from __future__ import annotations

import re
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest

from tests.api.auth_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, AuthClient, ClientFactory, make_config

HTML = {"Accept": "text/html,application/xhtml+xml"}
FORM = {"Content-Type": "application/x-www-form-urlencoded", "Accept": "text/html"}


@pytest.fixture
async def bare(make_client: ClientFactory, tmp_path: Path) -> AuthClient:
    """The server without the bundled shell (an empty web root), as when another front serves the origin."""
    (tmp_path / "web").mkdir()
    return await make_client(make_config(LOCALCORE_WEB_ROOT=str(tmp_path / "web"), APP_NAME="Notes"))


def form_fields(page: str) -> tuple[str, dict[str, str]]:
    """The form's action and its hidden fields."""
    action = re.search(r'<form method="post" action="([^"]+)"', page)
    assert action is not None, page
    hidden = dict(re.findall(r'<input type="hidden" name="([^"]+)" value="([^"]*)"', page))
    return action.group(1), hidden


async def open_page(client: AuthClient, link: str) -> str:
    response = await client.http.get(link, headers=HTML)
    assert response.status == 200
    assert response.content_type == "text/html"
    page = await response.text()
    nonce = re.search(r"'nonce-([^']+)'", response.headers["Content-Security-Policy"])
    assert nonce is not None and f'<style nonce="{nonce.group(1)}">' in page
    assert "<script" not in page and "<link" not in page and "src=\"/" not in page  # nothing to fetch
    return page


async def test_the_verification_page_needs_no_shell_and_acts_only_on_post(bare: AuthClient) -> None:
    await bare.sign_up()
    link = await bare.link("ada@example.com", "verify", "/auth/verify-email")
    page = await open_page(bare, link)
    assert "Notes" in page and "Verify your email" in page
    action, fields = form_fields(page)
    assert action == "/auth/verify-email" and fields["token"] in link
    await open_page(bare, link)  # opened twice (a scanner, then the person): still unused
    assert (await bare.session())["user"]["emailVerified"] is False

    posted = await bare.http.post(action, data=fields, headers=FORM, allow_redirects=False)
    assert posted.status == 303
    assert posted.headers["Location"] == parse_qs(urlsplit(link).query)["callbackURL"][0]
    assert (await bare.session())["user"]["emailVerified"] is True

    again = await bare.http.post(action, data=fields, headers=FORM, allow_redirects=False)
    assert again.status == 401 and "Link expired" in await again.text()  # single use, said plainly


async def test_the_magic_link_page_signs_in_with_its_button_and_redirects(bare: AuthClient) -> None:
    await bare.sign_up()
    bare.http.session.cookie_jar.clear()
    sent = await bare.http.post("/auth/sign-in/magic-link", json={"email": "ada@example.com",
                                                                  "callbackURL": "/welcome"})
    assert sent.status == 200
    link = await bare.link("ada@example.com", "sign in", "/auth/magic-link/verify")
    page = await open_page(bare, link)
    assert "Sign in to Notes" in page
    assert await bare.session() is None  # opening it signed nobody in
    action, fields = form_fields(page)
    posted = await bare.http.post(action, data=fields, headers=FORM, allow_redirects=False)
    assert (posted.status, posted.headers["Location"]) == (303, "/welcome")
    assert (await bare.session())["user"]["email"] == "ada@example.com"


async def test_a_foreign_callback_is_refused_before_any_page(bare: AuthClient) -> None:
    await bare.sign_up()
    link = await bare.link("ada@example.com", "verify", "/auth/verify-email")
    forged = re.sub(r"callbackURL=[^&]*", "callbackURL=https%3A%2F%2Fevil.example%2F", link)
    response = await bare.http.get(forged, headers=HTML)
    assert response.status == 403 and (await response.json())["code"] == "INVALID_CALLBACK_URL"


async def test_a_reset_link_without_a_form_of_the_apps_own_opens_the_servers_reset_page(bare: AuthClient) -> None:
    await bare.sign_up()
    requested = await bare.http.post("/auth/request-password-reset", json={"email": "ada@example.com"})
    assert requested.status == 200
    link = await bare.link("ada@example.com", "reset", "/auth/reset-password/")
    assert "callbackURL" not in link
    page = await open_page(bare, link)
    assert 'type="password"' in page and "Reset password" in page
    action, fields = form_fields(page)

    weak = await bare.http.post(action, data={**fields, "newPassword": "password"}, headers=FORM,
                                allow_redirects=False)
    assert weak.status == 400 and 'role="alert"' in await weak.text()  # the reason, and the form again

    done = await bare.http.post(action, data={**fields, "newPassword": OTHER_STRONG_PASSWORD}, headers=FORM,
                                allow_redirects=False)
    assert (done.status, done.headers["Location"]) == (303, "/")
    bare.http.session.cookie_jar.clear()
    await bare.sign_in(password=STRONG_PASSWORD, expect=401)
    await bare.sign_in(password=OTHER_STRONG_PASSWORD)
    used = await bare.http.get(link, headers=HTML)
    assert used.status == 400 and "Link expired" in await used.text()


async def test_the_apps_own_reset_form_is_still_where_its_link_leads(app_client: AuthClient) -> None:
    await app_client.sign_up()
    await app_client.http.post("/auth/request-password-reset",
                               json={"email": "ada@example.com", "redirectTo": "https://app.example.com/reset"})
    link = await app_client.link("ada@example.com", "reset", "/auth/reset-password/")
    response = await app_client.http.get(link, headers=HTML, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"].startswith("https://app.example.com/reset?token=")
