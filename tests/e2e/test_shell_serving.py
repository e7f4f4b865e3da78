"""The shell as the real server serves it: deep links, nonce and CSP, static files, API 404s."""

from __future__ import annotations

import re
import urllib.error
import urllib.request

import pytest
from playwright.sync_api import Page, Route, expect

pytestmark = pytest.mark.e2e


def _get(url: str, accept: str = "text/html") -> tuple[int, dict[str, str], bytes]:
    request = urllib.request.Request(url, headers={"Accept": accept})
    try:
        with urllib.request.urlopen(request, timeout=5) as resp:
            return resp.status, dict(resp.headers), resp.read()
    except urllib.error.HTTPError as err:
        return err.code, dict(err.headers), err.read()


def test_a_deep_link_gets_the_shell_with_a_nonce_matching_the_csp(base_url: str) -> None:
    status, headers, body = _get(base_url + "/workspace/x/settings")
    assert status == 200
    assert headers["Content-Type"] == "text/html; charset=utf-8"
    page = body.decode()
    csp = headers.get("Content-Security-Policy", "")
    match = re.search(r"'nonce-([^']+)'", csp)
    assert match, csp
    nonce = match.group(1)
    assert f'<meta name="boring-csp-nonce" content="{nonce}">' in page
    tags = re.findall(r"<(?:script|style)\b[^>]*>|<link\b[^>]*rel=\"stylesheet\"[^>]*>", page)
    assert tags
    assert all(f'nonce="{nonce}"' in tag for tag in tags)
    assert "unsafe-inline" not in csp.split("script-src", 1)[1].split(";", 1)[0]


def test_static_assets_and_server_paths(base_url: str) -> None:
    status, headers, _ = _get(base_url + "/app.js", accept="*/*")
    assert status == 200
    assert headers["Content-Type"].startswith("text/javascript")
    status, headers, body = _get(base_url + "/api/nope", accept="application/json")
    assert status == 404
    assert headers["Content-Type"].startswith("application/json")
    status, _, body = _get(base_url + "/..%2F..%2F..%2Fetc%2Fpasswd")
    assert status in (400, 404)
    assert b"root:" not in body


def test_pages_render_without_csp_violations(page: Page, console_errors: list[str]) -> None:
    for path, heading in [
        ("/auth/signin", "Sign in"),
        ("/auth/signup", "Create an account"),
        ("/auth/forgot-password", "Forgot password"),
        ("/auth/verify-email?token=abc", "Verify your email"),
        ("/dev/mail", "Dev mailbox"),
        ("/no/such/page", "Page not found"),
    ]:
        page.goto(path)
        expect(page.get_by_role("heading", level=1)).to_have_text(heading)
    assert [e for e in console_errors if "Content Security Policy" in e or e.startswith("pageerror")] == []


def test_config_outage_shows_cannot_reach_server_and_retry_recovers(page: Page) -> None:
    calls: list[str] = []

    def fail(route: Route) -> None:
        calls.append(route.request.url)
        route.fulfill(status=500, content_type="application/json",
                      body='{"error":"internal_error","code":"internal_error","message":"Internal server error",'
                           '"requestId":"req-123"}')

    page.route("**/api/v1/config", fail)
    page.goto("/auth/signin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Cannot reach server", timeout=15_000)
    expect(page.get_by_text("Request ID: req-123")).to_be_visible()
    assert len(calls) == 4  # 1 try + 3 retries
    page.unroute("**/api/v1/config")
    page.get_by_role("button", name="Retry").click()
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")


def test_a_transient_config_failure_is_retried_silently(page: Page) -> None:
    failures = {"left": 2}

    def flaky(route: Route) -> None:
        if failures["left"]:
            failures["left"] -= 1
            route.fulfill(status=503, body="")
        else:
            route.continue_()

    page.route("**/api/v1/config", flaky)
    page.goto("/auth/signin")
    expect(page.get_by_role("heading", level=1)).to_have_text("Sign in")
    assert failures["left"] == 0
