"""First run on a desktop: the owner link printed by the server, then completing the account."""

from __future__ import annotations

import re

import pytest
from e2e_support import OTHER_STRONG_PASSWORD, WORKSPACE_URL, Server, session_user, sign_out
from playwright.sync_api import Page, expect

pytestmark = [pytest.mark.e2e, pytest.mark.first_run]


def bootstrap_link(server: Server) -> str:
    match = re.search(r"https?://\S+/auth/bootstrap\?token=\S+", server.log())
    assert match, server.log()
    return match.group(0)


def test_the_owner_link_signs_in_only_after_confirming_and_only_once(page: Page, server: Server) -> None:
    link = bootstrap_link(server)
    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text(re.compile(r"^Set up "))
    page.reload()
    assert session_user(page) is None  # opening it did nothing

    page.get_by_role("button", name="Continue as owner").click()
    expect(page).to_have_url(WORKSPACE_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default workspace")
    user = session_user(page)
    assert user is not None and user["name"] == "Owner"

    # The owner completes the account: a real address and a password.
    page.goto("/me")
    page.get_by_label("New password", exact=True).fill(OTHER_STRONG_PASSWORD)
    page.get_by_label("Confirm new password").fill(OTHER_STRONG_PASSWORD)
    page.get_by_role("button", name="Set password").click()
    expect(page.get_by_role("status").filter(has_text="Password set")).to_be_visible()
    page.get_by_label("Change email address").fill("owner@example.com")
    page.get_by_role("button", name="Change email").click()
    expect(page.get_by_role("status").filter(has_text="owner@example.com")).to_be_visible()

    sign_out(page)
    page.goto(link)
    page.get_by_role("button", name="Continue as owner").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Setup link unavailable")

    page.goto("/auth/signin")
    page.get_by_label("Email").fill("owner@example.com")
    page.get_by_label("Password").fill(OTHER_STRONG_PASSWORD)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page).to_have_url(WORKSPACE_URL)
