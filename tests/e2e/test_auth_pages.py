"""Sign up, sign in, sign out and the session gate, in a real browser against a real server."""

from __future__ import annotations

import re

import pytest
from e2e_support import STRONG_PASSWORD, WORKSPACE_URL, session_user, sign_in, sign_out, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_cold_visit_redirects_to_sign_in_with_labelled_fields(page: Page) -> None:
    page.goto("/workspace/some-id/settings")
    expect(page).to_have_url(re.compile(r"/auth/signin\?redirect=%2Fworkspace%2Fsome-id%2Fsettings$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    expect(page.get_by_label("Email")).to_have_attribute("autocomplete", "email")
    expect(page.get_by_label("Password")).to_have_attribute("autocomplete", "current-password")
    # Focus moved to the page heading.
    expect(page.get_by_role("heading", level=1)).to_be_focused()


def test_sign_up_lands_on_the_default_workspace(page: Page, console_errors: list[str]) -> None:
    sign_up(page, "ada@example.com")
    expect(page.get_by_role("button", name="Default workspace, workspace menu")).to_be_visible()
    expect(page.get_by_role("status").filter(has_text="verification link")).to_be_visible()
    user = session_user(page)
    assert user is not None and user["email"] == "ada@example.com"
    # No CSP violation and no uncaught exception on the way.
    assert [e for e in console_errors if "Content Security Policy" in e or e.startswith("pageerror")] == []


def test_sign_up_validates_on_the_client_and_focuses_the_first_invalid_field(page: Page) -> None:
    page.goto("/auth/signup")
    requests: list[str] = []
    page.on("request", lambda r: requests.append(r.url) if "/auth/sign-up" in r.url else None)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Name is required")).to_be_visible()
    expect(page.get_by_text("Please enter a valid email")).to_be_visible()
    expect(page.get_by_label("Name")).to_be_focused()
    expect(page.get_by_label("Name")).to_have_attribute("aria-invalid", "true")
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("short")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_text("Password must be at least 8 characters")).to_be_visible()
    expect(page.get_by_label("Password")).to_be_focused()
    assert requests == []


def test_weak_password_is_refused_with_an_alert(page: Page) -> None:
    page.goto("/auth/signup")
    page.get_by_label("Name").fill("Ada")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill("password1")
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("too common")
    expect(page.get_by_label("Password")).to_be_focused()
    expect(page).to_have_url(re.compile(r"/auth/signup$"))


def test_duplicate_email_shows_the_server_message(page: Page) -> None:
    sign_up(page, "ada@example.com")
    sign_out(page)
    page.goto("/auth/signup")
    page.get_by_label("Name").fill("Ada Again")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page.get_by_role("alert")).to_contain_text("already exists")
    expect(page).to_have_url(re.compile(r"/auth/signup$"))


def test_sign_out_then_sign_in_again(page: Page) -> None:
    sign_up(page, "ada@example.com")
    workspace_url = page.url
    sign_out(page)
    assert session_user(page) is None
    # The workspace is private again.
    page.goto(workspace_url)
    expect(page).to_have_url(re.compile(r"/auth/signin\?redirect="))
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    # Back where the gate stopped us.
    expect(page).to_have_url(workspace_url)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default workspace")


def test_wrong_password_shows_the_error_in_an_alert(page: Page) -> None:
    sign_up(page, "ada@example.com")
    sign_out(page)
    sign_in(page, "ada@example.com", "not-the-password")
    alert = page.get_by_role("alert").filter(has_text="Invalid email or password")
    expect(alert).to_be_visible()
    expect(page).to_have_url(re.compile(r"/auth/signin$"))
    expect(page.get_by_role("button", name="Sign in", exact=True)).to_be_enabled()
    expect(page.get_by_label("Password")).to_be_focused()
    assert session_user(page) is None


def test_sign_in_honours_a_safe_redirect_and_ignores_an_unsafe_one(page: Page) -> None:
    sign_up(page, "ada@example.com")
    sign_out(page)
    page.goto("/auth/signin?redirect=%2Fme")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    marker = page.evaluate("window.__sameDocument = Math.random()")
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Account settings")
    assert page.evaluate("window.__sameDocument") == marker  # no full reload
    sign_out(page)
    page.goto("/auth/signin?redirect=%2F%2Fevil.example")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(WORKSPACE_URL)


def test_signed_in_visit_to_sign_in_goes_home(page: Page) -> None:
    sign_up(page, "ada@example.com")
    page.goto("/auth/signin")
    expect(page).to_have_url(WORKSPACE_URL)


def test_auth_error_page_shows_the_code(page: Page) -> None:
    page.goto("/auth/error?error=INVALID_TOKEN")
    expect(page.get_by_role("heading", level=1)).to_have_text("Authentication error")
    expect(page.get_by_text("Error: INVALID_TOKEN")).to_be_visible()
