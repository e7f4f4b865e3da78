"""Steps the browser tests share: start the server, sign up through the UI, read the dev mailbox, ask the API."""

from __future__ import annotations

import contextlib
import os
import pathlib
import re
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator, Mapping
from typing import Any

import pytest
from playwright.sync_api import Page, expect

#: The start-up banner line that hands the dev mailbox secret to the person at the terminal.
DEV_MAILBOX_LINE = re.compile(r"Dev mailbox: (?P<url>\S+)")
#: The header scripts (and these tests) send the dev mailbox secret in.
DEV_MAILBOX_HEADER = "x-dev-mailbox-token"
#: The cookie that ``/dev/mail?token=`` sets (``<app_id>.dev_mailbox``; the app id is the default one).
DEV_MAILBOX_COOKIE = "boring-app.dev_mailbox"
BANNER_TIMEOUT_S = 5.0


class Server:
    """A running ``python -m localcore serve``; ``url`` is its base URL, ``log`` its output so far,
    ``data_dir`` its data directory."""

    def __init__(self, url: str, process: subprocess.Popen[bytes], log_path: pathlib.Path,
                 data_dir: pathlib.Path) -> None:
        self.url = url
        self.process = process
        self.log_path = log_path
        self.data_dir = data_dir
        self._dev_mailbox_url: str | None = None

    def log(self) -> str:
        return self.log_path.read_text(encoding="utf-8", errors="replace")

    @property
    def dev_mailbox_url(self) -> str:
        """The ``Dev mailbox:`` link of the start-up banner, checked to be this server's ``/dev/mail`` with a
        ``token``. The banner is printed just after the port opens, so wait a moment for it."""
        if self._dev_mailbox_url is None:
            deadline = time.monotonic() + BANNER_TIMEOUT_S
            while (match := DEV_MAILBOX_LINE.search(self.log())) is None:
                if time.monotonic() > deadline:
                    raise AssertionError(f"no 'Dev mailbox: ' line in the start-up banner:\n{self.log()}")
                time.sleep(0.05)
            link = match.group("url")
            parts = urllib.parse.urlsplit(link)
            assert f"{parts.scheme}://{parts.netloc}" == self.url, f"banner link {link} is not on {self.url}"
            assert parts.path == "/dev/mail", f"banner link {link} is not /dev/mail"
            tokens = urllib.parse.parse_qs(parts.query).get("token", [])
            assert len(tokens) == 1 and len(tokens[0]) >= 16, f"banner link {link} has no usable token"
            self._dev_mailbox_url = link
        return self._dev_mailbox_url

    @property
    def dev_mailbox_token(self) -> str:
        """The dev mailbox secret, as the banner link carries it."""
        query = urllib.parse.urlsplit(self.dev_mailbox_url).query
        return urllib.parse.parse_qs(query)["token"][0]


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


def api_json(page: Page, path: str, *, headers: Mapping[str, str] | None = None) -> Any:
    """GET ``path`` with the page's cookies (the browser context's request client shares them)."""
    response = page.request.get(path, headers={"Accept": "application/json", **(headers or {})})
    assert response.ok, f"GET {path} -> {response.status}: {response.text()}"
    return response.json()


def open_dev_mailbox(page: Page, server: Server) -> None:
    """Open the banner's ``Dev mailbox:`` link, as the person at the terminal does: the server sets the
    mailbox cookie and redirects to ``/dev/mail`` (the token leaves the address bar)."""
    page.goto(server.dev_mailbox_url)
    expect(page).to_have_url(server.url + "/dev/mail")
    expect(page.get_by_role("heading", level=1)).to_have_text("Dev mailbox")


def dev_mail(page: Page, server: Server) -> list[dict[str, Any]]:
    """Every dev-mailbox message, newest first, read with the secret in the header (the page's own
    cookies do not matter)."""
    data = api_json(page, "/api/dev/mail", headers={DEV_MAILBOX_HEADER: server.dev_mailbox_token})
    return [dict(message) for message in data["messages"]]


def session_user(page: Page) -> dict[str, Any] | None:
    data = api_json(page, "/auth/get-session")
    return data["user"] if data else None


def wait_for_mail(page: Page, server: Server, to: str, subject: str, *, timeout: float = 10.0) -> dict[str, Any]:
    """The newest dev-mailbox message to ``to`` whose subject contains ``subject`` (case-insensitive)."""
    deadline = time.monotonic() + timeout
    while True:
        for message in dev_mail(page, server):
            if message["to"].lower() == to.lower() and subject.lower() in message["subject"].lower():
                return message
        if time.monotonic() > deadline:
            raise AssertionError(f"no mail to {to} with subject containing {subject!r}")
        time.sleep(0.2)


def link_containing(message: dict[str, Any], fragment: str) -> str:
    for link in message["links"]:
        if fragment in link:
            return str(link)
    raise AssertionError(f"no link containing {fragment!r} in {message['links']}")


# --- the server subprocess ------------------------------------------------------------------------

START_TIMEOUT_S = 30.0
STOP_TIMEOUT_S = 35.0


def _free_port() -> int:
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _healthy(url: str) -> bool:
    try:
        with urllib.request.urlopen(url + "/health", timeout=1) as resp:
            return bool(resp.status == 200)
    except (urllib.error.URLError, OSError):
        return False


@contextlib.contextmanager
def running_server(tmp_path: pathlib.Path, *extra_args: str) -> Iterator[Server]:
    """Start ``python -m localcore serve`` on a free loopback port; SIGTERM it afterwards."""
    port = _free_port()
    url = f"http://127.0.0.1:{port}"
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    log_path = tmp_path / "server.log"
    env = {
        **os.environ,
        "LOCALCORE_KEYRING": "null",
        "BETTER_AUTH_URL": url,
        "PYTHONUNBUFFERED": "1",
    }
    for name in ("DATABASE_URL", "CORE_STORES", "MAIL_TRANSPORT_URL", "LOCALCORE_ENV"):
        env.pop(name, None)
    with log_path.open("wb") as log:
        process = subprocess.Popen(
            [sys.executable, "-m", "localcore", "serve", "--host", "127.0.0.1", "--port", str(port),
             "--data-dir", str(data_dir), *extra_args],
            cwd=tmp_path,  # no boring.app.toml from the repository
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
        )
    handle = Server(url, process, log_path, data_dir)
    deadline = time.monotonic() + START_TIMEOUT_S
    while not _healthy(url):
        if process.poll() is not None:
            pytest.fail(f"server exited with {process.returncode} before /health answered:\n{handle.log()}")
        if time.monotonic() > deadline:
            process.kill()
            pytest.fail(f"server did not answer /health within {START_TIMEOUT_S}s:\n{handle.log()}")
        time.sleep(0.1)
    try:
        yield handle
    finally:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
            try:
                process.wait(timeout=STOP_TIMEOUT_S)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        # Shown by pytest when the test failed.
        sys.stdout.write(f"\n--- server log ({url}) ---\n{handle.log()[-6000:]}\n")
