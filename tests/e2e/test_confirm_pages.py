"""The mailed links, driven in Chromium against a server with NO shell assets (an empty web root), as when
another front (boring-core's own React front) serves the origin: the server's own confirm pages must
work with nothing but themselves — no script, no stylesheet to fetch, no console or CSP error."""

from __future__ import annotations

import pathlib
import time
from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
from e2e_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, Server, dev_mail, running_server
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


@pytest.fixture
def server(tmp_path: pathlib.Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[Server]:
    empty = tmp_path / "no-shell"
    empty.mkdir()
    monkeypatch.setenv("LOCALCORE_WEB_ROOT", str(empty))
    with running_server(tmp_path, "--no-bootstrap") as handle:
        yield handle


def page_errors(console_errors: list[str]) -> list[str]:
    """CSP violations and script errors. Failed loads are expected here: with no shell, the callback "/"
    and the favicon are another front's to serve."""
    return [e for e in console_errors if "Failed to load resource" not in e]


def newest_link(page: Page, server: Server, to: str, fragment: str, *, timeout: float = 10.0) -> str:
    """The newest mailed link to ``to`` containing ``fragment``, waiting for it: mail is sent after the
    answer that caused it."""
    deadline = time.monotonic() + timeout
    while True:
        for message in dev_mail(page, server):
            if message["to"] == to:
                for url in message["links"]:
                    if fragment in url:
                        parts = urlsplit(url)
                        return f"{parts.path}?{parts.query}" if parts.query else parts.path
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} with {fragment!r}")
        time.sleep(0.1)


def signed_in_email(page: Page) -> str | None:
    session = page.request.get("/auth/get-session").json()
    return str(session["user"]["email"]) if session else None


def sign_up_by_api(page: Page, email: str) -> None:
    response = page.request.post("/auth/sign-up/email",
                                 data={"name": "Ada", "email": email, "password": STRONG_PASSWORD})
    assert response.ok, response.text()


def test_a_magic_link_signs_in_through_the_servers_own_page(page: Page, server: Server,
                                                             console_errors: list[str]) -> None:
    assert page.request.get("/").status == 503  # there really is no shell
    sign_up_by_api(page, "ada@example.com")
    page.context.clear_cookies()
    sent = page.request.post("/auth/sign-in/magic-link", data={"email": "ada@example.com", "callbackURL": "/"})
    assert sent.ok
    link = newest_link(page, server, "ada@example.com", "/auth/magic-link/verify")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to boring-app")
    page.reload()
    assert signed_in_email(page) is None  # opening the link (twice) signed nobody in
    with page.expect_navigation():
        page.get_by_role("button", name="Sign in").click()
    assert urlsplit(page.url).path == "/", page.content()
    assert signed_in_email(page) == "ada@example.com"
    assert page_errors(console_errors) == []


def test_verifying_and_resetting_work_without_the_shell(page: Page, server: Server,
                                                       console_errors: list[str]) -> None:
    sign_up_by_api(page, "ada@example.com")
    page.goto(newest_link(page, server, "ada@example.com", "/auth/verify-email"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify your email")
    with page.expect_navigation():
        page.get_by_role("button", name="Verify email").click()
    assert page.request.get("/auth/get-session").json()["user"]["emailVerified"] is True

    requested = page.request.post("/auth/request-password-reset", data={"email": "ada@example.com"})
    assert requested.ok
    page.goto(newest_link(page, server, "ada@example.com", "/auth/reset-password/"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset password")
    page.get_by_label("New password").fill("password")
    page.get_by_role("button", name="Reset password").click()
    expect(page.get_by_role("alert")).to_be_visible()  # too weak: the reason, on the same page
    page.get_by_label("New password").fill(OTHER_STRONG_PASSWORD)
    with page.expect_navigation():
        page.get_by_role("button", name="Reset password").click()
    signed_in = page.request.post("/auth/sign-in/email",
                                  data={"email": "ada@example.com", "password": OTHER_STRONG_PASSWORD})
    assert signed_in.ok
    assert page_errors(console_errors) == []
