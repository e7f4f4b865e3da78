"""Fixtures for HTTP tests that run on every backend (memory, SQLite, Postgres).

``app_client`` is the whole app (``create_app``) over the plugin's fresh ``backend`` with its
``ManualClock``, wrapped in ``auth_support.AuthClient``, which knows the auth flows' small steps (sign up,
read the dev mailbox, follow a mailed link). ``make_client`` builds more apps: other configurations, or a
second "process" on the same database (``second_backend``).
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Awaitable, Callable, Sequence
from typing import Any

import pytest
from aiohttp.test_utils import TestClient, TestServer

from localcore import create_app
from localcore.clock import ManualClock
from localcore.config import Config
from localcore.logs import AccessLogger
from localcore.mail import Mailer
from localcore.plugins import Plugin
from localcore.store import Backend
from tests.api.auth_support import AuthClient, ClientFactory, make_config


@pytest.fixture
def make_client(aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], backend: Backend,
                clock: ManualClock) -> ClientFactory:
    """``await make_client(config=None, backend_=None, mailer=None, plugins=())``: one more app over the
    test backend (or another handle), served with the production access logger (no query strings in the
    log)."""

    async def build(config: Config | None = None, backend_: Backend | None = None,
                    mailer: Mailer | None = None, plugins: Sequence[Plugin] = ()) -> AuthClient:
        chosen = backend_ or backend
        app = create_app(config or make_config(), chosen, clock=clock, mailer=mailer, plugins=plugins)
        server = TestServer(app)
        await server.start_server(access_log_class=AccessLogger)
        client = await aiohttp_client(server)
        return AuthClient(client, chosen, clock)

    return build


@pytest.fixture
async def app_client(make_client: ClientFactory) -> AuthClient:
    return await make_client()


@pytest.fixture
async def second_backend(backend: Backend, backend_url: str, clock: ManualClock) -> AsyncIterator[Backend]:
    """Another handle on the same database, as a second localcore process would open it (memory: the
    same object, since that backend cannot be shared across processes)."""
    if backend.kind == "memory":
        yield backend
        return
    from backends import open_backend

    other = await open_backend(backend_url, clock=clock)
    try:
        yield other
    finally:
        await other.close()
