"""The shell's dev tools and plugins: the dev mailbox page shows the dev clock's offset and moves it (the
server really moves: its ``/api/dev/clock`` says so), and the account page lists an installed plugin's
capabilities (the example app, ``--plugin notes``)."""

from __future__ import annotations

import pytest
from e2e_support import DEV_MAILBOX_HEADER, Server, api_json, open_dev_mailbox, sign_up
from playwright.sync_api import Page, expect

pytestmark = pytest.mark.e2e


def test_the_dev_mailbox_page_shows_and_moves_the_dev_clock(page: Page, server: Server) -> None:
    open_dev_mailbox(page, server)
    clock = page.get_by_role("group", name="Dev clock")
    expect(clock).to_contain_text("Server clock: on the wall clock")

    clock.get_by_role("button", name="+1 day").click()
    expect(clock).to_contain_text("Server clock: 1 day ahead")
    clock.get_by_role("button", name="+1 hour").click()
    expect(clock).to_contain_text("Server clock: 1 day 1 hour ahead")
    moved = api_json(page, "/api/dev/clock", headers={DEV_MAILBOX_HEADER: server.dev_mailbox_token})
    assert moved["offsetSeconds"] == 25 * 3600

    clock.get_by_role("button", name="Reset").click()
    expect(clock).to_contain_text("Server clock: on the wall clock")
    assert api_json(page, "/api/dev/clock", headers={DEV_MAILBOX_HEADER: server.dev_mailbox_token})[
        "offsetSeconds"] == 0


@pytest.mark.server_args("--plugin", "notes")
def test_the_account_page_lists_the_installed_plugins_capabilities(page: Page) -> None:
    sign_up(page, "ada@example.com")
    page.goto("/me")
    about = page.get_by_role("region", name="About this server")
    expect(about).to_contain_text("boring-core contract 0.1.43")
    plugins = about.get_by_role("list", name="Plugins")
    expect(plugins.get_by_role("heading", level=3)).to_contain_text("notes")
    expect(plugins).to_contain_text("maxNotes")
    expect(plugins).to_contain_text("notes-summariser-1")


def test_without_plugins_the_account_page_says_so(page: Page) -> None:
    sign_up(page, "ada@example.com")
    page.goto("/me")
    expect(page.get_by_role("region", name="About this server")).to_contain_text("No plugins are installed.")
