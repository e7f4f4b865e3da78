"""pytest plugin: the ``backend`` fixture every contract test runs on.

Registered through the ``pytest11`` entry point, so installing localcore makes the fixtures available
(and the app fixtures of ``app_fixtures.py`` — ``localcore_client``, ``localcore_app``, … — for a child
app's HTTP tests, on the same backends).

- ``--backend-url URL`` (repeatable) picks the backends; by default: memory, SQLite, Postgres.
- Each test gets a fresh, migrated, empty backend opened with a ``ManualClock`` (the ``clock`` fixture).
- SQLite: a new file in ``tmp_path``. Postgres: a new database cloned from a migrated template on the
  server of ``LOCALCORE_TEST_POSTGRES_URL``, the ``--backend-url``, or a throwaway cluster this session
  starts with ``initdb``/``pg_ctl``. With ``CI`` set, a missing Postgres fails the run; elsewhere the
  Postgres cases are skipped with the reason.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.testing.app_fixtures import (  # noqa: F401 - registered as this plugin's fixtures
    advance_clock,
    localcore_app,
    localcore_backend,
    localcore_client,
    localcore_clock,
    localcore_config,
    localcore_env,
    localcore_plugins,
)

DEFAULT_BACKENDS = ("memory", "sqlite", "postgres")


def pytest_addoption(parser: pytest.Parser) -> None:
    group = parser.getgroup("localcore")
    group.addoption("--backend-url", action="append", default=[], metavar="URL",
                    help="run backend contract tests against this backend URL (repeatable); "
                         "default: memory, sqlite and postgres")


def _backend_params(config: pytest.Config) -> list[str]:
    urls: list[str] = config.getoption("--backend-url") or []
    return urls or list(DEFAULT_BACKENDS)


def _param_id(value: str) -> str:
    return value.split(":", 1)[0].replace("postgresql", "postgres") if "://" in value else value


def pytest_configure(config: pytest.Config) -> None:
    config.addinivalue_line(
        "markers", "shared_storage: the contract concerns storage shared between processes or migrations; "
                   "it runs on every backend except memory (whose state is private to one process)")


def pytest_generate_tests(metafunc: pytest.Metafunc) -> None:
    if "backend_kind" in metafunc.fixturenames:
        params = _backend_params(metafunc.config)
        if metafunc.definition.get_closest_marker("shared_storage"):
            params = [p for p in params if not p.startswith("memory")]
        metafunc.parametrize("backend_kind", params, ids=[_param_id(p) for p in params])


def _with_database(url: str, database: str) -> str:
    parts = urlsplit(url)
    return urlunsplit(parts._replace(path=f"/{database}"))


class PostgresServer:
    """A Postgres server tests may create databases on, plus a migrated template database."""

    def __init__(self, admin_url: str) -> None:
        self.admin_url = admin_url
        self.template: str | None = None

    async def _admin(self) -> object:
        import asyncpg

        return await asyncpg.connect(self.admin_url)

    async def create_database(self) -> str:
        import asyncpg

        conn = await asyncpg.connect(self.admin_url)
        try:
            if self.template is None:
                template = f"lc_template_{uuid.uuid4().hex[:10]}"
                await conn.execute(f'CREATE DATABASE "{template}"')
                from backends.postgres import open_postgres

                backend = await open_postgres(_with_database(self.admin_url, template), max_size=2)
                await backend.close()
                self.template = template
            name = f"lc_test_{uuid.uuid4().hex[:12]}"
            await conn.execute(f'CREATE DATABASE "{name}" TEMPLATE "{self.template}"')
        finally:
            await conn.close()
        return _with_database(self.admin_url, name)

    async def create_empty_database(self) -> str:
        """A database with no schema at all (for migration tests)."""
        import asyncpg

        name = f"lc_empty_{uuid.uuid4().hex[:12]}"
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'CREATE DATABASE "{name}"')
        finally:
            await conn.close()
        return _with_database(self.admin_url, name)

    async def drop_database(self, url: str) -> None:
        import asyncpg

        name = urlsplit(url).path.lstrip("/")
        conn = await asyncpg.connect(self.admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()

    async def drop_template(self) -> None:
        if self.template:
            await self.drop_database(_with_database(self.admin_url, self.template))
            self.template = None


@pytest.fixture(scope="session")
def postgres_admin_url(request: pytest.FixtureRequest) -> Iterator[str]:
    """A Postgres URL with CREATEDB rights: an explicit ``--backend-url``/env URL, or a throwaway cluster."""
    explicit = [u for u in request.config.getoption("--backend-url") or []
                if u.startswith(("postgres://", "postgresql://"))]
    env_url = os.environ.get("LOCALCORE_TEST_POSTGRES_URL")
    if explicit or env_url:
        yield explicit[0] if explicit else str(env_url)
        return
    from localcore.testing.pgcluster import PostgresUnavailable, ThrowawayCluster

    try:
        cluster = ThrowawayCluster()
        url = cluster.start()
    except (PostgresUnavailable, OSError, Exception) as exc:  # noqa: BLE001 - report any start failure
        if os.environ.get("CI"):
            pytest.fail(f"Postgres is required in CI but could not be started: {exc}")
        pytest.skip(f"Postgres unavailable: {exc}")
    try:
        yield url
    finally:
        cluster.stop()


@pytest.fixture(scope="session")
def postgres_server(postgres_admin_url: str) -> Iterator[PostgresServer]:
    import asyncio

    server = PostgresServer(postgres_admin_url)
    yield server
    asyncio.run(server.drop_template())


@pytest.fixture
def clock() -> ManualClock:
    """The clock the ``backend`` was opened with; ``clock.advance(seconds=…)`` moves time."""
    return ManualClock(datetime(2026, 1, 1, 12, 0, tzinfo=UTC))


@pytest.fixture
async def backend_url(backend_kind: str, tmp_path: Path,
                      request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """A URL for a fresh, empty backend of ``backend_kind`` (other processes may open it too)."""
    if backend_kind == "memory" or backend_kind.startswith("memory:"):
        yield "memory://"
    elif backend_kind == "sqlite":
        yield f"sqlite:///{tmp_path / 'localcore-test.db'}"
    elif backend_kind.startswith("sqlite:"):
        from backends.registry import sqlite_path

        base = Path(sqlite_path(backend_kind))
        fresh = base.with_name(f"{base.stem}-{uuid.uuid4().hex[:8]}.db")
        try:
            yield f"sqlite:///{fresh.resolve()}"
        finally:
            for suffix in ("", "-wal", "-shm"):
                Path(f"{fresh}{suffix}").unlink(missing_ok=True)  # noqa: ASYNC240 - teardown
    elif backend_kind == "postgres" or backend_kind.startswith(("postgres://", "postgresql://")):
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = await server.create_database()
        try:
            yield url
        finally:
            await server.drop_database(url)
    else:
        raise pytest.UsageError(f"unsupported --backend-url {backend_kind!r}")


@pytest.fixture
async def backend(backend_url: str, clock: ManualClock) -> AsyncIterator[Backend]:
    """A fresh, migrated backend of each kind under test, opened with ``clock`` and the credits feature's
    ledger vocabulary (the ledger scenarios speak its source names)."""
    from backends import open_backend
    from localcore.metering import LEDGER_VOCABULARY

    opened = await open_backend(backend_url, clock=clock, ledger_vocabulary=LEDGER_VOCABULARY)
    try:
        yield opened
    finally:
        await opened.close()


@pytest.fixture
async def empty_backend_url(backend_kind: str, tmp_path: Path,
                            request: pytest.FixtureRequest) -> AsyncIterator[str]:
    """Like ``backend_url`` but never migrated: a new SQLite file or an empty Postgres database."""
    if backend_kind.startswith("memory"):
        yield "memory://"
    elif backend_kind.startswith("sqlite"):
        yield f"sqlite:///{tmp_path / f'empty-{uuid.uuid4().hex[:8]}.db'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = await server.create_empty_database()
        try:
            yield url
        finally:
            await server.drop_database(url)
