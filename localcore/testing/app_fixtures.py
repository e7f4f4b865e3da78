"""Fixtures for a child app's HTTP tests: the whole localcore app, with the project's plugins, on every
backend the contract suite runs on (memory, SQLite, Postgres — the same ``backend_kind`` parametrisation,
``--backend-url`` and Postgres template databases).

Registered with the ``backend`` fixture by the ``localcore_contract`` pytest plugin (``pytest11`` entry
point), so installing localcore is enough; async fixtures need pytest-asyncio in ``asyncio_mode = "auto"``.

- ``localcore_client`` — a :class:`~localcore.testing.app_client.LocalcoreClient`, signed out, over
  ``localcore_app``; ``await localcore_client.signed_in(email)`` is a verified, signed-in user in a
  browser of their own; ``mails``/``last_mail`` read the dev mailbox; ``advance_clock(seconds)``.
- ``localcore_app`` — ``create_app(localcore_config, localcore_backend, clock=localcore_clock,
  plugins=localcore_plugins)``, not yet started.
- ``localcore_plugins`` — the plugins under test. Default: those the configuration names
  (``[plugins] load`` in ``./boring.app.toml``, ``LOCALCORE_PLUGINS`` of the environment the tests run
  in) and the installed ``localcore.plugins`` entry points, as ``python -m localcore`` finds them.
  Override it in your ``conftest.py`` to name them outright::

      @pytest.fixture
      def localcore_plugins() -> list[localcore.Plugin]:
          return [notes.plugin]

- ``localcore_env`` — the environment the configuration is read from: :data:`TEST_ENV` (test mode,
  fixed secrets, console mail and its dev mailbox, any ``Host``, rate limits off) plus the outer
  ``LOCALCORE_PLUGINS``. Override it (``{**TEST_ENV, "BORING_CREDITS_SIGNUP_GRANT_EUR": "0"}``) for other
  settings; ``localcore_config`` is ``load_config(env=localcore_env)`` (which reads ``./boring.app.toml``).
- ``localcore_clock`` — the :class:`~localcore.clock.OffsetClock` the app and its backend share, over the
  ``clock`` fixture's ``ManualClock`` (so time stands still unless moved); ``advance_clock`` is its
  ``advance``. ``POST /api/dev/clock`` moves the same clock.
- ``localcore_backend`` — a fresh, migrated backend of each kind, opened with ``localcore_clock``.
"""

from __future__ import annotations

import os
from collections.abc import AsyncIterator, Callable
from datetime import datetime
from typing import TYPE_CHECKING, Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from localcore.clock import ManualClock, OffsetClock
from localcore.config import Config
from localcore.plugins import Plugin
from localcore.store import Backend

if TYPE_CHECKING:  # imported when first used: loading the pytest plugin stays cheap
    from localcore.testing.app_client import LocalcoreClient

__all__ = ["TEST_ENV", "advance_clock", "localcore_app", "localcore_backend", "localcore_client",
           "localcore_clock", "localcore_config", "localcore_env", "localcore_plugins"]

#: The configuration of the test app: nothing secret, nothing slow, mail kept in the dev mailbox.
TEST_ENV = {
    "LOCALCORE_ENV": "test",
    "BETTER_AUTH_SECRET": "localcore-test-secret-" + "s" * 42,
    "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64,
    "DEV_MAILBOX_TOKEN": "localcore-test-mailbox-" + "m" * 24,
    "MAIL_FROM": "Test <test@example.com>",
    "MAIL_TRANSPORT_URL": "console://",
    "BETTER_AUTH_URL": "http://127.0.0.1",
    "TRUSTED_HOSTS": "*",
    "LOCALCORE_RATE_LIMITS": "off",
    "LOCALCORE_KEYRING": "null",
}


@pytest.fixture
def localcore_env() -> dict[str, str]:
    """The environment ``localcore_config`` reads: :data:`TEST_ENV` and the outer ``LOCALCORE_PLUGINS``."""
    outer = os.environ.get("LOCALCORE_PLUGINS")
    return {**TEST_ENV, **({"LOCALCORE_PLUGINS": outer} if outer else {})}


@pytest.fixture
def localcore_config(localcore_env: dict[str, str]) -> Config:
    from localcore.config import load_config

    return load_config(env=localcore_env)


@pytest.fixture
def localcore_plugins(localcore_config: Config) -> list[Plugin]:
    """The configured plugins (``[plugins] load``, ``LOCALCORE_PLUGINS``) and the installed entry points."""
    from localcore.plugins import configured_plugins

    return configured_plugins(localcore_config.plugins)


@pytest.fixture
def localcore_clock(clock: ManualClock) -> OffsetClock:
    return OffsetClock(clock)


@pytest.fixture
def advance_clock(localcore_clock: OffsetClock) -> Callable[[float], datetime]:
    """``advance_clock(seconds)``: move the app's and the backend's clock forward; returns the new now."""
    return localcore_clock.advance


@pytest.fixture
async def localcore_backend(backend_url: str, localcore_clock: OffsetClock) -> AsyncIterator[Backend]:
    from backends import open_backend

    opened = await open_backend(backend_url, clock=localcore_clock)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
def localcore_app(localcore_config: Config, localcore_backend: Backend, localcore_clock: OffsetClock,
                  localcore_plugins: list[Plugin]) -> web.Application:
    from localcore.app import create_app

    return create_app(localcore_config, localcore_backend, clock=localcore_clock, plugins=localcore_plugins)


@pytest.fixture
async def localcore_client(localcore_app: web.Application,
                           localcore_clock: OffsetClock) -> AsyncIterator[LocalcoreClient]:
    """A signed-out client over the started ``localcore_app`` (its start-up hooks have run)."""
    from localcore.testing.app_client import LocalcoreClient

    http: TestClient[Any, Any] = TestClient(TestServer(localcore_app))
    await http.start_server()
    opened = [http]
    try:
        yield LocalcoreClient(http, localcore_clock.advance, opened)
    finally:
        for client in reversed(opened):  # each closes its session; the server stops with the first
            await client.close()
