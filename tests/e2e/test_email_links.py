"""Links that arrive by mail: password reset, email verification and magic-link sign-in.

The mail comes from the dev mailbox (console transport). Verification and magic links are one-time:
opening one must not use it up (mail scanners open links too); only the button on the page does.
"""

from __future__ import annotations

import re

import pytest
from e2e_support import (
    OTHER_STRONG_PASSWORD,
    STRONG_PASSWORD,
    WORKSPACE_URL,
    Server,
    link_containing,
    session_user,
    sign_in,
    sign_out,
    sign_up,
    wait_for_mail,
)
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_forgot_password_mail_resets_the_password(page: Page, server: Server) -> None:
    sign_up(page, "ada@example.com")
    sign_out(page)
    page.get_by_role("link", name="Forgot password?").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Forgot password")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")

    mail = wait_for_mail(page, server, "ada@example.com", "reset")
    page.goto(link_containing(mail, "/auth/reset-password"))
    expect(page).to_have_url(re.compile(r"/auth/reset-password\?token="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Reset password")

    page.get_by_label("New password").fill(OTHER_STRONG_PASSWORD)
    page.get_by_label("Confirm password").fill(OTHER_STRONG_PASSWORD + "x")
    page.get_by_role("button", name="Reset password").click()
    expect(page.get_by_text("Passwords do not match")).to_be_visible()
    expect(page.get_by_label("Confirm password")).to_be_focused()

    page.get_by_label("Confirm password").fill(OTHER_STRONG_PASSWORD)
    page.get_by_role("button", name="Reset password").click()
    expect(page).to_have_url(re.compile(r"/auth/signin$"))
    expect(page.get_by_role("status").filter(has_text="password has been reset")).to_be_visible()

    sign_in(page, "ada@example.com", STRONG_PASSWORD)
    expect(page.get_by_role("alert").filter(has_text="Invalid email or password")).to_be_visible()
    page.get_by_label("Password").fill(OTHER_STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(WORKSPACE_URL)


def test_forgot_password_does_not_reveal_unknown_emails(page: Page) -> None:
    page.goto("/auth/forgot-password")
    page.get_by_label("Email").fill("nobody@example.com")
    page.get_by_role("button", name="Send reset link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your inbox")


def test_reset_page_without_a_token_says_the_link_expired(page: Page) -> None:
    page.goto("/auth/reset-password")
    expect(page.get_by_role("heading", level=1)).to_have_text("Link expired")
    page.get_by_role("link", name="Request new link").click()
    expect(page).to_have_url(re.compile(r"/auth/forgot-password$"))


def test_opening_a_verification_link_does_not_verify_until_the_button_is_clicked(page: Page, server: Server) -> None:
    sign_up(page, "ada@example.com")
    user = session_user(page)
    assert user is not None and user["emailVerified"] is False

    mail = wait_for_mail(page, server, "ada@example.com", "verify")
    link = link_containing(mail, "/auth/verify-email")
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Verify your email")
    # Opened (as a mail scanner would), not used.
    page.reload()
    expect(page.get_by_role("button", name="Verify email")).to_be_visible()
    user = session_user(page)
    assert user is not None and user["emailVerified"] is False

    page.get_by_role("button", name="Verify email").click()  # the server's page POSTs, then goes on
    expect(page).to_have_url(WORKSPACE_URL)
    user = session_user(page)
    assert user is not None and user["emailVerified"] is True

    # The link was single-use.
    page.goto(link)
    page.get_by_role("button", name="Verify email").click()
    used = re.compile("Invalid verification link|Link expired")
    expect(page.get_by_role("heading", level=1)).to_have_text(used)


def test_magic_link_signs_in_only_through_the_confirm_page(page: Page, server: Server) -> None:
    sign_up(page, "ada@example.com")
    sign_out(page)
    page.get_by_role("button", name="Email me a sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in with a link")
    page.get_by_label("Email").fill("ada@example.com")
    page.get_by_role("button", name="Send sign-in link").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Check your email")

    mail = wait_for_mail(page, server, "ada@example.com", "sign in")
    page.goto(link_containing(mail, "/auth/magic-link/verify"))
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Sign in to "))
    page.reload()
    assert session_user(page) is None  # opening the link did not sign anyone in

    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(WORKSPACE_URL)
    user = session_user(page)
    assert user is not None and user["email"] == "ada@example.com"
