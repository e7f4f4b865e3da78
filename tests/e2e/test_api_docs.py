"""/api/docs: the API reference the shell renders from /api/openapi.json, offline and keyboard-operable.

(The shell's own probe of the dev mailbox logs a 404 in the console when this browser has no mailbox cookie,
so only CSP violations and script errors count as console errors here, as in the other shell tests.)"""

from __future__ import annotations

import re
from typing import Any, cast

import pytest
from axe_playwright_python.sync_playwright import Axe  # type: ignore[import-untyped]
from e2e_support import sign_up
from playwright.sync_api import Browser, BrowserContext, Page, Request, expect

pytestmark = pytest.mark.e2e


def serious_axe_violations(page: Page) -> list[str]:
    """axe-core's serious and critical violations (its bundled copy: nothing is fetched)."""
    page.evaluate(Axe().axe_script)
    found = cast("list[dict[str, Any]]", page.evaluate(
        "async () => (await axe.run(document, {resultTypes: ['violations']})).violations"))
    return [f"{v['id']}: {v['help']} ({len(v['nodes'])} nodes)" for v in found
            if v["impact"] in ("serious", "critical")]


def test_the_reference_renders_the_document_offline(page: Page, context: BrowserContext, base_url: str,
                                                    console_errors: list[str]) -> None:
    foreign: list[str] = []

    def note(request: Request) -> None:
        if not request.url.startswith(base_url):
            foreign.append(request.url)

    page.on("request", note)
    page.goto("/api/docs")
    expect(page.get_by_role("heading", level=1)).to_have_text("API reference")
    expect(page.get_by_role("heading", level=2, name=re.compile(r"^auth\b"))).to_be_visible()

    # A known operation: opened from the keyboard, it shows its statuses, schema and an example.
    operation = page.locator("#op-get_auth_get_session")
    summary = operation.locator(":scope > summary")
    expect(summary).to_contain_text("GET")
    expect(summary).to_contain_text("/auth/get-session")
    expect(operation).not_to_have_attribute("open", "")
    summary.focus()
    page.keyboard.press("Enter")
    expect(operation).to_have_attribute("open", "")
    body = operation.locator(".apidocs-op-body")
    expect(body.get_by_text("Responses")).to_be_visible()
    expect(body.locator(".chip", has_text=re.compile(r"^200$"))).to_be_visible()
    expect(body.locator(".chip", has_text=re.compile(r"^503$"))).to_be_visible()
    expect(body).to_contain_text("SessionWithUser")
    expect(body).to_contain_text("null")
    expect(body).to_contain_text("db_unavailable")  # the shared 503's example

    # The filter narrows the list; a deep link opens its operation.
    page.get_by_label("Filter operations").fill("callback google")
    expect(page.locator(".apidocs-op:not([hidden])")).to_have_count(1)
    expect(page.locator("#op-get_auth_callback_google")).to_be_visible()
    page.goto("/api/docs#op-post_auth_sign_in_email")
    sign_in = page.locator("#op-post_auth_sign_in_email")
    expect(sign_in).to_have_attribute("open", "")
    expect(sign_in).to_contain_text("INVALID_EMAIL_OR_PASSWORD")
    expect(sign_in).to_contain_text("Retry-After")

    assert foreign == []
    assert [e for e in console_errors if "Content Security Policy" in e or e.startswith("pageerror")] == []


def test_an_open_operation_passes_axe_and_fits_375px(browser: Browser, base_url: str) -> None:
    context = browser.new_context(base_url=base_url, viewport={"width": 375, "height": 800})
    try:
        page = context.new_page()
        page.goto("/api/docs#op-post_api_v1_workspaces_id_invites")
        operation = page.locator("#op-post_api_v1_workspaces_id_invites")
        expect(operation).to_have_attribute("open", "")
        for schema in operation.locator("details.apidocs-schema > summary").all():
            schema.click()
        assert page.evaluate("document.documentElement.scrollWidth") <= 375
        assert serious_axe_violations(page) == []
    finally:
        context.close()


def test_signed_in_the_reference_is_inside_the_app_frame(page: Page, console_errors: list[str]) -> None:
    sign_up(page, "docs-reader@example.com")
    page.goto("/api/docs")
    expect(page.get_by_role("heading", level=1)).to_have_text("API reference")
    expect(page.get_by_role("button", name="User menu")).to_be_visible()
    expect(page.locator("#op-get_api_v1_me > summary")).to_contain_text("/api/v1/me")
    assert [e for e in console_errors if "Content Security Policy" in e or e.startswith("pageerror")] == []
