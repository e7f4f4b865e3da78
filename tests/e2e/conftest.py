"""End-to-end fixtures: the real server as a subprocess, and the system Chromium through Playwright.

Each test gets a fresh server (its own data directory, so its own SQLite database, sessions, rate-limit
counters and dev mailbox) and a fresh browser context (no cookies, empty localStorage). The browser is
the machine's Chromium (``/usr/bin/chromium`` or ``LOCALCORE_CHROMIUM``); Playwright never downloads one.
"""

from __future__ import annotations

import contextlib
import os
import pathlib
import sys
from collections.abc import Iterator

import pytest
from playwright.sync_api import Browser, BrowserContext, Page, Playwright, sync_playwright

# Under --import-mode=importlib test directories are not on sys.path; the shared browser steps live
# beside this file (e2e_support.py), so put this directory there for the test modules to import.
sys.path.insert(0, str(pathlib.Path(__file__).resolve().parent))

from e2e_support import Server, running_server

CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line("markers", "first_run: start the server with the owner bootstrap link on")
    config.addinivalue_line("markers", "server_args(*args): more command-line arguments for the server")


@pytest.fixture
def server(tmp_path: pathlib.Path, request: pytest.FixtureRequest) -> Iterator[Server]:
    """A fresh server per test: its own database, sessions, rate-limit counters and dev mailbox."""
    args = () if request.node.get_closest_marker("first_run") else ("--no-bootstrap",)
    more = request.node.get_closest_marker("server_args")
    args = (*args, *(more.args if more else ()))
    with running_server(tmp_path, *args) as handle:
        yield handle


@pytest.fixture
def base_url(server: Server) -> str:
    return server.url


# Module scope: Playwright's sync API keeps an event loop running on the main thread while it lives, so it
# must be stopped before tests outside tests/e2e (which start their own loops) run.
@pytest.fixture(scope="module")
def playwright() -> Iterator[Playwright]:
    with sync_playwright() as pw:
        yield pw


@pytest.fixture(scope="module")
def browser(playwright: Playwright) -> Iterator[Browser]:
    executable = os.environ.get("LOCALCORE_CHROMIUM", "/usr/bin/chromium")
    if not pathlib.Path(executable).exists():
        pytest.fail(f"no Chromium at {executable}: set LOCALCORE_CHROMIUM or install it", pytrace=False)
    browser = playwright.chromium.launch(executable_path=executable, args=CHROMIUM_ARGS)
    yield browser
    with contextlib.suppress(Exception):
        browser.close()


class ConsoleErrors(list[str]):
    """Console errors and uncaught exceptions of a page (CSP violations land here too)."""


@pytest.fixture
def context(browser: Browser, base_url: str) -> Iterator[BrowserContext]:
    ctx = browser.new_context(base_url=base_url, viewport={"width": 1280, "height": 860}, locale="en-US")
    ctx.set_default_timeout(10_000)
    yield ctx
    ctx.close()


@pytest.fixture
def console_errors() -> ConsoleErrors:
    return ConsoleErrors()


@pytest.fixture
def page(context: BrowserContext, console_errors: ConsoleErrors) -> Page:
    page = context.new_page()
    page.on("console", lambda msg: console_errors.append(msg.text) if msg.type == "error" else None)
    page.on("pageerror", lambda exc: console_errors.append(f"pageerror: {exc}"))
    return page
