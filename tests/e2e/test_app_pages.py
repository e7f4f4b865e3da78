"""The signed-in pages: account, workspaces (switcher, members, invites, settings), credits, dev
mailbox and the theme."""

from __future__ import annotations

import re

import pytest
from e2e_support import WORKSPACE_URL, api_json, session_user, sign_in, sign_up, wait_for_mail
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_account_page_changes_the_display_name_and_lists_sessions(page: Page) -> None:
    sign_up(page, "ada@example.com", name="Ada Lovelace")
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name=re.compile("Account settings")).click()
    expect(page).to_have_url(re.compile(r"/me$"))
    expect(page.get_by_role("heading", level=1)).to_have_text("Account settings")
    profile = page.get_by_role("region", name="Profile")
    expect(profile.get_by_text("ada@example.com")).to_be_visible()
    expect(profile.get_by_text("Not verified")).to_be_visible()

    page.get_by_label("Display name").fill("Countess Lovelace")
    page.get_by_role("button", name="Save", exact=True).click()
    expect(page.get_by_role("status").filter(has_text="Display name saved")).to_be_visible()
    assert api_json(page, "/api/v1/me")["settings"]["displayName"] == "Countess Lovelace"
    page.reload()
    expect(page.get_by_label("Display name")).to_have_value("Countess Lovelace")

    sessions = page.get_by_role("list", name="Sessions")
    expect(sessions.get_by_role("listitem")).to_have_count(1)
    expect(sessions.get_by_text("This device")).to_be_visible()


def test_change_password_validates_and_succeeds(page: Page) -> None:
    sign_up(page, "ada@example.com")
    page.goto("/me#password")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_text("Current password is required")).to_be_visible()
    expect(page.get_by_label("Current password")).to_be_focused()
    page.get_by_label("Current password").fill("Zk8$mN!qR2xFgWpJ")
    page.get_by_label("New password", exact=True).fill("correct-horse-battery-staple-42")
    page.get_by_label("Confirm new password").fill("correct-horse-battery-staple-42")
    page.get_by_role("button", name="Change password").click()
    expect(page.get_by_role("status").filter(has_text="Password changed successfully")).to_be_visible()
    expect(page.get_by_label("Current password")).to_have_value("")


def test_create_and_switch_workspaces(page: Page) -> None:
    sign_up(page, "ada@example.com")
    first = page.url
    page.get_by_role("button", name="Workspace menu: Default workspace").click()
    page.get_by_role("menuitem", name=re.compile("Create workspace")).click()
    dialog = page.get_by_role("dialog", name="Create workspace")
    expect(dialog.get_by_label("Name")).to_be_focused()
    dialog.get_by_label("Name").fill("Gamma")
    dialog.get_by_role("button", name="Create workspace").click()
    # The URL already matches the pattern before navigating: wait for it to change, not just to match.
    page.wait_for_url(lambda url: url != first and WORKSPACE_URL.search(url) is not None)
    expect(page.get_by_role("heading", level=1)).to_have_text("Gamma")
    expect(page.get_by_role("button", name="Workspace menu: Gamma")).to_be_visible()

    # Keyboard: open the switcher with Enter (focus on the current item), move, pick with Enter.
    page.get_by_role("button", name="Workspace menu: Gamma").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="Gamma", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Workspace menu: Gamma")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.press("End")
    page.keyboard.press("ArrowDown")  # wraps to the first item
    page.keyboard.press("d")  # type-ahead
    expect(page.get_by_role("menuitem", name="Default workspace", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(first)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default workspace")


def test_members_invites_and_settings_for_the_owner(page: Page) -> None:
    sign_up(page, "ada@example.com", name="Ada Lovelace")
    base = page.url

    page.get_by_role("link", name="Members").first.click()
    expect(page).to_have_url(base + "/members")
    members = page.get_by_role("list", name="Members")
    expect(members.get_by_role("listitem")).to_have_count(1)
    expect(members.get_by_text("(you)")).to_be_visible()
    expect(page.get_by_label("Role for Ada Lovelace")).to_be_disabled()  # never on your own row

    page.get_by_role("navigation", name="Workspace sections").get_by_role("link", name="Invites").click()
    page.get_by_role("button", name="Send invite").click()
    expect(page.get_by_text("Email is required")).to_be_visible()
    page.get_by_label("Email address").fill("bob@example.com")
    page.get_by_label("Role").select_option("viewer")
    page.get_by_role("button", name="Send invite").click()
    expect(page.get_by_role("status").filter(has_text="bob@example.com")).to_be_visible()
    invites = page.get_by_role("list", name="Invites")
    expect(invites.get_by_text("bob@example.com")).to_be_visible()
    expect(invites.get_by_text("pending")).to_be_visible()
    mail = wait_for_mail(page, "bob@example.com", "invited you")
    assert any("/invites/" in link for link in mail["links"])

    page.get_by_role("button", name="Revoke invite for bob@example.com").click()
    expect(page.get_by_role("list", name="Invites")).to_have_count(0)
    expect(page.get_by_text("No invites yet")).to_be_visible()

    page.get_by_role("navigation", name="Workspace sections").get_by_role("link", name="Settings").click()
    page.get_by_label("Key").fill("OPENAI_API_KEY")
    page.get_by_label("Value", exact=True).fill("sk-secret-value")
    page.get_by_role("button", name="Save secret").click()
    expect(page.get_by_role("list", name="Configured keys").get_by_text("OPENAI_API_KEY")).to_be_visible()
    expect(page.get_by_text("sk-secret-value")).to_have_count(0)  # values are write-only
    expect(page.get_by_label("Value", exact=True)).to_have_value("")

    page.get_by_label("Workspace name").fill("Renamed")
    page.get_by_role("button", name="Save changes").click()
    expect(page.get_by_role("button", name="Workspace menu: Renamed")).to_be_visible()


def test_dev_mailbox_lists_the_messages(page: Page) -> None:
    sign_up(page, "ada@example.com")
    wait_for_mail(page, "ada@example.com", "verify")
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name=re.compile("Dev mailbox")).click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")
    messages = page.get_by_role("list", name="Messages")
    expect(messages.get_by_role("button", name=re.compile("Verify your .* email address"))).to_be_visible()
    viewer = page.get_by_role("region", name="Message")
    expect(viewer.get_by_role("heading", level=2)).to_contain_text("Verify your")
    expect(viewer.get_by_role("link", name=re.compile(r"verify-email\?token="))).to_be_visible()
    frame = page.frame_locator("iframe.mail-frame")
    expect(frame.get_by_role("link", name=re.compile("Verify", re.IGNORECASE)).first).to_be_visible()


def test_dev_mailbox_is_public(page: Page) -> None:
    page.goto("/dev/mail")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")
    expect(page).to_have_url(re.compile(r"/dev/mail$"))


def test_theme_toggle_persists_across_reload(page: Page) -> None:
    page.emulate_media(color_scheme="light")
    page.goto("/auth/signin")
    html = page.locator("html")
    expect(html).to_have_attribute("data-theme", "light")
    toggle = page.get_by_role("button", name=re.compile("^Theme: "))
    while html.get_attribute("data-theme-preference") != "dark":
        toggle.click()
    expect(html).to_have_attribute("data-theme", "dark")
    expect(html).to_have_class(re.compile(r"\bdark\b"))
    page.reload()
    expect(html).to_have_attribute("data-theme", "dark")
    background = page.evaluate("getComputedStyle(document.body).backgroundColor")
    assert background == "rgb(14, 14, 16)"
    # System follows the colour scheme live.
    page.get_by_role("button", name=re.compile("^Theme: ")).click()
    expect(html).to_have_attribute("data-theme-preference", "system")
    expect(html).to_have_attribute("data-theme", "light")
    page.emulate_media(color_scheme="dark")
    expect(html).to_have_attribute("data-theme", "dark")


def test_credits_page_shows_the_balance(page: Page) -> None:
    sign_up(page, "ada@example.com")
    page.goto("/credits")
    expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    balance = api_json(page, "/api/credits/balance")
    if balance.get("enabled", True):
        expect(page.get_by_test_id("balance")).to_have_text(re.compile(r"€\d"))
    else:
        expect(page.get_by_text("Credits are turned off on this server.")).to_be_visible()


def test_buying_credits_through_the_offline_dev_checkout(page: Page) -> None:
    sign_up(page, "ada@example.com")
    page.goto("/credits")
    before = api_json(page, "/api/credits/balance")
    assert before["checkoutEnabled"] is True
    pack = next(p for p in before["packs"] if p["isDefault"])
    page.get_by_role("button", name=re.compile(r"^Buy ")).click()
    expect(page).to_have_url(re.compile(r"/credits/dev-checkout\?checkout="))
    expect(page.get_by_role("heading", level=1)).to_have_text("Test checkout")
    expect(page.locator("[data-status]")).to_have_text("open")
    page.get_by_role("button", name=re.compile(r"^Pay ")).click()
    expect(page.get_by_role("status").filter(has_text="Payment complete")).to_be_visible()
    expect(page.locator("[data-status]")).to_have_text("paid")
    after = api_json(page, "/api/credits/balance")
    assert after["remainingMicros"] == before["remainingMicros"] + pack["creditMicros"]

    page.get_by_role("button", name="Refund").click()
    expect(page.locator("[data-status]")).to_have_text("refunded")
    assert api_json(page, "/api/credits/balance")["remainingMicros"] == before["remainingMicros"]
    page.get_by_role("link", name="Back to credits").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Credits")
    entries = api_json(page, "/api/credits/history?limit=20")["entries"]
    expect(page.get_by_role("table").get_by_role("row")).to_have_count(len(entries) + 1)  # + the header


def test_deleting_the_account_signs_out_and_the_old_session_is_gone(page: Page) -> None:
    sign_up(page, "leaving@example.com")
    page.goto("/me#danger-zone")
    page.get_by_role("button", name="Delete account").click()
    dialog = page.get_by_role("dialog", name="Delete your account?")
    confirm = dialog.get_by_role("button", name="Delete my account")
    expect(confirm).to_be_disabled()
    dialog.get_by_label("Type DELETE to confirm").fill("DELETE")
    confirm.click()
    expect(page).to_have_url(re.compile(r"/auth/signin"))
    assert session_user(page) is None
    assert page.request.get("/api/v1/me", headers={"Accept": "application/json"}).status == 401
    sign_in(page, "leaving@example.com")
    expect(page.get_by_role("alert")).to_contain_text("Invalid email or password")
