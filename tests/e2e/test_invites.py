"""Invites end to end: the owner invites by email, the invitee follows the mailed /invites/<token> link."""

from __future__ import annotations

import re

import pytest
from e2e_support import STRONG_PASSWORD, Server, link_containing, sign_out, sign_up, wait_for_mail
from playwright.sync_api import Browser, Page, expect

pytestmark = pytest.mark.e2e


def invite(page: Page, server: Server, email: str, role: str) -> str:
    """As the signed-in owner, invite ``email``; returns the link from the mail."""
    page.get_by_role("navigation", name="Workspace sections").get_by_role("link", name="Invites").click()
    page.get_by_label("Email address").fill(email)
    page.get_by_label("Role").select_option(role)
    page.get_by_role("button", name="Send invite").click()
    expect(page.get_by_role("list", name="Invites").get_by_text(email)).to_be_visible()
    return link_containing(wait_for_mail(page, server, email, "invited you"), "/invites/")


def test_a_new_user_signs_up_from_the_invite_link_and_joins(page: Page, server: Server) -> None:
    sign_up(page, "ada@example.com", name="Ada")
    page.get_by_role("heading", level=1).wait_for()
    workspace = page.url
    link = invite(page, server, "bob@example.com", "editor")
    sign_out(page)

    page.goto(link)
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in to accept this invite")
    page.get_by_role("link", name="Create an account").click()
    expect(page).to_have_url(re.compile(r"/auth/signup\?invite_token="))
    expect(page.get_by_role("button", name="Continue with Google")).to_have_count(0)
    page.get_by_label("Name").fill("Bob")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    # Joined Ada's workspace instead of getting a default one.
    expect(page).to_have_url(workspace)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default workspace")
    expect(page.locator("[data-role]")).to_have_text("Editor")


def test_an_existing_user_signs_in_then_accepts(page: Page, browser: Browser, server: Server) -> None:
    bob = browser.new_context(base_url=server.url)
    try:
        bob_page = bob.new_page()
        sign_up(bob_page, "bob@example.com", name="Bob")
        sign_out(bob_page)

        sign_up(page, "ada@example.com", name="Ada")
        workspace = page.url
        link = invite(page, server, "bob@example.com", "viewer")

        bob_page.goto(link)
        expect(bob_page).to_have_url(re.compile(r"/invites/"))
        bob_page.get_by_role("link", name="Sign in").click()
        expect(bob_page).to_have_url(re.compile(r"/auth/signin\?redirect=%2Finvites%2F"))
        bob_page.get_by_label("Email").fill("bob@example.com")
        bob_page.get_by_label("Password").fill(STRONG_PASSWORD)
        bob_page.get_by_role("button", name="Sign in", exact=True).click()
        expect(bob_page.get_by_role("heading", level=1)).to_have_text("You've been invited")
        expect(bob_page.get_by_text(re.compile(r"Join Default workspace as Viewer"))).to_be_visible()
        bob_page.get_by_role("button", name="Accept invite").click()
        expect(bob_page).to_have_url(workspace)
        expect(bob_page.locator("[data-role]")).to_have_text("Viewer")

        # A viewer sees the invites page as "Access denied" and a disabled rename.
        bob_page.get_by_role("navigation", name="Workspace sections").get_by_role("link", name="Invites").click()
        expect(bob_page.get_by_role("heading", name="Access denied")).to_be_visible()
        bob_page.get_by_role("navigation", name="Workspace sections").get_by_role("link", name="Settings").click()
        expect(bob_page.get_by_label("Workspace name")).to_be_disabled()
        expect(bob_page.get_by_text("Only workspace owners can delete this workspace.")).to_be_visible()

        # The owner promotes Bob; the choice survives a reload.
        page.goto(workspace + "/members")
        page.get_by_label("Role for Bob").select_option("editor")
        expect(page.get_by_role("status").filter(has_text="Bob is now editor")).to_be_visible()
        page.reload()
        expect(page.get_by_label("Role for Bob")).to_have_value("editor")
    finally:
        bob.close()
