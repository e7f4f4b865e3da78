"""The signed-in pages: account, workspaces (switcher, members, invites, settings), credits, dev
mailbox and the theme."""

from __future__ import annotations

import json
import re

import pytest
from e2e_support import (
    DEV_MAILBOX_COOKIE,
    DEV_MAILBOX_HEADER,
    WORKSPACE_URL,
    Server,
    api_json,
    dev_mail,
    open_dev_mailbox,
    session_user,
    sign_in,
    sign_up,
    wait_for_mail,
)
from playwright.sync_api import Browser, BrowserContext, Page, expect

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
    page.get_by_role("button", name="Default workspace, workspace menu").click()
    page.get_by_role("menuitem", name=re.compile("Create workspace")).click()
    dialog = page.get_by_role("dialog", name="Create workspace")
    expect(dialog.get_by_label("Name")).to_be_focused()
    dialog.get_by_label("Name").fill("Gamma")
    dialog.get_by_role("button", name="Create workspace").click()
    # The URL already matches the pattern before navigating: wait for it to change, not just to match.
    page.wait_for_url(lambda url: url != first and WORKSPACE_URL.search(url) is not None)
    expect(page.get_by_role("heading", level=1)).to_have_text("Gamma")
    expect(page.get_by_role("button", name="Gamma, workspace menu")).to_be_visible()

    # Keyboard: open the switcher with Enter (focus on the current item), move, pick with Enter.
    page.get_by_role("button", name="Gamma, workspace menu").focus()
    page.keyboard.press("Enter")
    expect(page.get_by_role("menuitem", name="Gamma", exact=True)).to_be_focused()
    page.keyboard.press("Escape")
    expect(page.get_by_role("button", name="Gamma, workspace menu")).to_be_focused()
    page.keyboard.press("ArrowDown")
    page.keyboard.press("Home")
    page.keyboard.press("End")
    page.keyboard.press("ArrowDown")  # wraps to the first item
    page.keyboard.press("d")  # type-ahead
    expect(page.get_by_role("menuitem", name="Default workspace Default", exact=True)).to_be_focused()
    page.keyboard.press("Enter")
    expect(page).to_have_url(first)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default workspace")


def test_members_invites_and_settings_for_the_owner(page: Page, server: Server) -> None:
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
    mail = wait_for_mail(page, server, "bob@example.com", "invited you")
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
    expect(page.get_by_role("button", name="Renamed, workspace menu")).to_be_visible()


CLOSED_MAILBOX = re.compile(r"The dev mailbox is private to the person who started the server\. Open the "
                            r"“Dev mailbox:” link printed in the terminal")
VERIFY_SUBJECT = re.compile("Verify your .* email address")


def expect_closed_mailbox(page: Page) -> None:
    """/dev/mail as a browser without the mailbox cookie sees it: the explanation and no messages."""
    page.goto("/dev/mail")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")
    expect(page.get_by_text(CLOSED_MAILBOX)).to_be_visible()
    expect(page.get_by_text("has no dev mailbox")).to_be_visible()  # the non-console case
    expect(page.get_by_role("list", name="Messages")).to_have_count(0)
    expect(page.get_by_text(VERIFY_SUBJECT)).to_have_count(0)
    expect(page.get_by_role("link", name=re.compile(r"verify-email\?token="))).to_have_count(0)


def fetch_status(page: Page, url: str, headers: dict[str, str] | None = None) -> int:
    """The status of a same-origin fetch() from the page: what the shell's own requests get."""
    status = page.evaluate("([url, headers]) => fetch(url, {headers}).then((r) => r.status)", [url, headers or {}])
    assert isinstance(status, int)
    return status


def mailbox_cookies(context: BrowserContext) -> list[str]:
    return [cookie.get("name", "") for cookie in context.cookies() if "dev_mailbox" in cookie.get("name", "")]


def test_dev_mailbox_lists_the_messages(page: Page, server: Server) -> None:
    open_dev_mailbox(page, server)
    sign_up(page, "ada@example.com")
    wait_for_mail(page, server, "ada@example.com", "verify")
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


def test_dev_mailbox_without_the_banner_link_explains_where_it_is(
        page: Page, context: BrowserContext, server: Server, console_errors: list[str]) -> None:
    sign_up(page, "ada@example.com")  # sends the verification mail
    assert any(m["to"] == "ada@example.com" for m in dev_mail(page, server))  # the mail is there

    # Signed in, but without the mailbox cookie: the page explains, shows nothing, and the menu has no link.
    expect_closed_mailbox(page)
    expect(page).to_have_url(server.url + "/dev/mail")
    assert server.dev_mailbox_token not in page.content()
    assert mailbox_cookies(context) == []
    page.get_by_role("button", name="User menu").click()
    expect(page.get_by_role("menuitem", name=re.compile("Account settings"))).to_be_visible()
    expect(page.get_by_role("menuitem", name=re.compile("Dev mailbox"))).to_have_count(0)
    page.keyboard.press("Escape")

    # The API answers as an unknown route does, to the page and to a wrong secret; nothing is cleared.
    assert fetch_status(page, "/api/dev/mail") == 404
    assert fetch_status(page, "/api/dev/mail?token=not-the-secret") == 404
    assert fetch_status(page, "/api/dev/mail", {DEV_MAILBOX_HEADER: "not-the-secret"}) == 404
    response = page.request.get("/api/dev/mail")
    assert response.status == 404
    body = response.json()
    assert body["code"] == "not_found" and {"error", "code", "message"} <= body.keys()
    assert page.request.delete("/api/dev/mail").status == 404
    assert any(m["to"] == "ada@example.com" for m in dev_mail(page, server))

    # A wrong token in the link: still closed, and the token does not stay in the address bar.
    page.goto("/dev/mail?token=not-the-secret")
    expect(page.get_by_text(CLOSED_MAILBOX)).to_be_visible()
    expect(page.get_by_role("list", name="Messages")).to_have_count(0)
    expect(page).to_have_url(server.url + "/dev/mail")
    assert mailbox_cookies(context) == []
    assert [e for e in console_errors if "Content Security Policy" in e or e.startswith("pageerror")] == []


def test_the_banner_link_opens_the_mailbox_for_this_browser(page: Page, context: BrowserContext,
                                                             server: Server) -> None:
    # The secret is this data directory's, kept with the other secrets (LOCALCORE_KEYRING=null: the file).
    secrets = json.loads((server.data_dir / "secrets.json").read_text("utf-8"))
    assert secrets["DEV_MAILBOX_TOKEN"] == server.dev_mailbox_token
    sign_up(page, "ada@example.com")
    expect_closed_mailbox(page)

    page.goto(server.dev_mailbox_url)
    expect(page).to_have_url(server.url + "/dev/mail")  # redirected: the token left the address bar
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")
    messages = page.get_by_role("list", name="Messages")
    expect(messages.get_by_role("button", name=VERIFY_SUBJECT)).to_be_visible()
    expect(page.get_by_text(CLOSED_MAILBOX)).to_have_count(0)
    viewer = page.get_by_role("region", name="Message")
    expect(viewer.get_by_role("link", name=re.compile(r"verify-email\?token="))).to_be_visible()

    cookies = [c for c in context.cookies() if c.get("name") == DEV_MAILBOX_COOKIE]
    assert len(cookies) == 1, context.cookies()
    assert cookies[0].get("httpOnly") is True
    assert cookies[0].get("sameSite") == "Strict"
    assert cookies[0].get("value") != server.dev_mailbox_token  # a derivative, not the banner secret
    assert "dev_mailbox" not in page.evaluate("document.cookie")  # scripts cannot read it
    assert fetch_status(page, "/api/dev/mail") == 200  # the cookie alone opens the API

    # It lasts across loads, and the shell now links to the mailbox.
    page.goto("/")
    expect(page).to_have_url(WORKSPACE_URL)
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name=re.compile("Dev mailbox")).click()
    expect(page).to_have_url(server.url + "/dev/mail")
    expect(messages.get_by_role("button", name=VERIFY_SUBJECT)).to_be_visible()


def test_a_second_browser_without_the_cookie_still_sees_nothing(page: Page, browser: Browser,
                                                                 server: Server) -> None:
    open_dev_mailbox(page, server)
    sign_up(page, "ada@example.com")
    page.goto("/dev/mail")
    expect(page.get_by_role("list", name="Messages").get_by_role("button", name=VERIFY_SUBJECT)).to_be_visible()

    other = browser.new_context(base_url=server.url)
    try:
        other.set_default_timeout(10_000)
        other_page = other.new_page()
        expect_closed_mailbox(other_page)
        assert mailbox_cookies(other) == []
        assert fetch_status(other_page, "/api/dev/mail") == 404
        # The secret itself works for scripts, in the query or the header.
        token = server.dev_mailbox_token
        assert fetch_status(other_page, f"/api/dev/mail?token={token}") == 200
        assert fetch_status(other_page, "/api/dev/mail", {DEV_MAILBOX_HEADER: token}) == 200
        other_page.reload()
        expect(other_page.get_by_text(CLOSED_MAILBOX)).to_be_visible()
        expect(other_page.get_by_role("list", name="Messages")).to_have_count(0)
    finally:
        other.close()
    # The first browser still reads it.
    page.reload()
    expect(page.get_by_role("list", name="Messages").get_by_role("button", name=VERIFY_SUBJECT)).to_be_visible()


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
