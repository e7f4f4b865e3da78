"""The audit log in the shell, in headless Chromium: the workspace's "Audit log" tab (owners only: an
editor sees neither the tab nor the events) and the user's own activity in account settings."""

from __future__ import annotations

import re

import pytest
from e2e_support import STRONG_PASSWORD, Server, link_containing, sign_in, sign_out, sign_up, wait_for_mail
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_an_owner_reads_the_workspace_audit_log_and_an_editor_cannot(page: Page, server: Server) -> None:
    sign_up(page, "ada@example.com", name="Ada")
    workspace = page.url
    # Something to see: a rename and an invite (with the invitee joining as an editor).
    page.goto(workspace + "/settings")
    page.get_by_label("Workspace name").fill("Research")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Settings")
    page.goto(workspace + "/invites")
    page.get_by_label("Email address").fill("bob@example.com")
    page.get_by_label("Role").select_option("editor")
    page.get_by_role("button", name="Send invite").click()
    link = link_containing(wait_for_mail(page, server, "bob@example.com", "invited you"), "/invites/")

    page.goto(workspace)
    page.get_by_role("navigation", name="Workspace sections").get_by_role("link", name="Audit log").click()
    expect(page).to_have_url(workspace + "/audit")
    expect(page.get_by_role("heading", level=1)).to_have_text("Audit log")
    log = page.get_by_role("table", name="Workspace audit log")
    renamed = log.get_by_role("row").filter(has_text="Workspace renamed")
    expect(renamed).to_contain_text("“Default workspace” → “Research”")
    expect(log.get_by_role("row").filter(has_text="Invite sent")).to_contain_text("bob@example.com")
    expect(log.get_by_role("row").filter(has_text="Workspace created")).to_contain_text("ada@example.com")
    sign_out(page)

    page.goto(link)
    page.get_by_role("link", name="Create an account").click()
    page.get_by_label("Name").fill("Bob")
    page.get_by_label("Email").fill("bob@example.com")
    page.get_by_label("Password").fill(STRONG_PASSWORD)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(re.compile(r"/workspace/[^/]+$"))
    tabs = page.get_by_role("navigation", name="Workspace sections")
    expect(tabs.get_by_role("link", name="Members")).to_be_visible()
    expect(tabs.get_by_role("link", name="Audit log")).to_have_count(0)
    page.goto(workspace + "/audit")
    expect(page.get_by_text("Only owners of this workspace can see its audit log.")).to_be_visible()
    expect(page.get_by_role("table", name="Workspace audit log")).to_have_count(0)

    # Bob's own activity: his sign-up and joining, never Ada's sign-in events.
    page.goto("/me#activity")
    mine = page.get_by_role("table", name="Your account activity")
    expect(mine.get_by_role("row").filter(has_text="Account created")).to_have_count(1)
    expect(mine.get_by_role("row").filter(has_text="Invite accepted")).to_contain_text("bob@example.com")
    expect(mine).not_to_contain_text("ada@example.com")


def test_account_settings_show_my_sign_ins_and_failed_attempts(page: Page, server: Server) -> None:
    sign_up(page, "cy@example.com", name="Cy")
    sign_out(page)
    sign_in(page, "cy@example.com", "not-my-password-9")
    expect(page.get_by_role("alert")).to_be_visible()
    sign_in(page, "cy@example.com")
    expect(page).to_have_url(re.compile(r"/workspace/"))
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name=re.compile("Account")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Account settings")
    page.get_by_role("navigation", name="Account settings sections").get_by_role("link", name="Activity").click()
    activity = page.get_by_role("table", name="Your account activity")
    rows = activity.get_by_role("row")
    expect(rows.filter(has_text="Failed sign-in")).to_contain_text("attention")
    expect(rows.filter(has_text="Failed sign-in")).to_contain_text("Unknown")
    expect(rows.filter(has_text="Signed in")).to_contain_text("via password")
    expect(rows.filter(has_text="Signed out")).to_have_count(1)
    expect(rows.nth(1)).to_contain_text("Signed in")  # newest first (row 0 is the header)
