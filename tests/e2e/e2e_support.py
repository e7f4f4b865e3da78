"""Steps the browser tests share: sign up through the UI, read the dev mailbox, ask the API."""

from __future__ import annotations

import pathlib
import re
import subprocess
import time
from typing import Any

from playwright.sync_api import Page, expect


class Server:
    """A running ``python -m localcore serve``; ``url`` is its base URL, ``log`` its output so far."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: pathlib.Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")


STRONG_PASSWORD = "Zk8$mN!qR2xFgWpJ"
OTHER_STRONG_PASSWORD = "correct-horse-battery-staple-42"
WORKSPACE_URL = re.compile(r"/workspace/[^/?#]+$")


def sign_up(page: Page, email: str, *, name: str = "Ada Lovelace", password: str = STRONG_PASSWORD) -> None:
    """Create an account in the UI and wait for the default workspace."""
    page.goto("/auth/signup")
    page.get_by_label("Name").fill(name)
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign up").click()
    expect(page).to_have_url(WORKSPACE_URL)
    expect(page.get_by_role("heading", level=1)).to_have_text("Default workspace")


def sign_in(page: Page, email: str, password: str = STRONG_PASSWORD) -> None:
    page.goto("/auth/signin")
    page.get_by_label("Email").fill(email)
    page.get_by_label("Password").fill(password)
    page.get_by_role("button", name="Sign in", exact=True).click()


def sign_out(page: Page) -> None:
    page.get_by_role("button", name="User menu").click()
    page.get_by_role("menuitem", name="Sign out").click()
    expect(page).to_have_url(re.compile(r"/auth/signin"))


def api_json(page: Page, path: str) -> Any:
    """GET ``path`` with the page's cookies (the browser context's request client shares them)."""
    response = page.request.get(path, headers={"Accept": "application/json"})
    assert response.ok, f"GET {path} -> {response.status}: {response.text()}"
    return response.json()


def session_user(page: Page) -> dict[str, Any] | None:
    data = api_json(page, "/auth/get-session")
    return data["user"] if data else None


def wait_for_mail(page: Page, to: str, subject: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The newest dev-mailbox message to ``to`` whose subject contains ``subject`` (case-insensitive)."""
    deadline = time.monotonic() + timeout
    while True:
        for message in api_json(page, "/api/dev/mail")["messages"]:
            if message["to"].lower() == to.lower() and subject.lower() in message["subject"].lower():
                return dict(message)
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} with subject containing {subject!r}")
        time.sleep(0.2)


def link_containing(message: dict[str, Any], fragment: str) -> str:
    for link in message["links"]:
        if fragment in link:
            return str(link)
    raise AssertionError(f"no link containing {fragment!r} in {message['links']}")
