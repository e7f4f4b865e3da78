"""Run one hypothesis state machine against memory, SQLite and Postgres in lockstep.

The machines drive every backend with the same operations under one moving ``ManualClock`` and compare the
results. Postgres comes from the contract plugin's server (a throwaway cluster or
``LOCALCORE_TEST_POSTGRES_URL``); without one the machine runs on memory and SQLite, except in CI, where a
missing Postgres fails the test.
"""

from __future__ import annotations

import asyncio
import contextlib
import itertools
import os
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import HealthCheck, settings
from hypothesis.stateful import run_state_machine_as_test

from backends import open_backend
from localcore.clock import ManualClock
from localcore.store import Backend


async def _open_all(tmp_path: Path, db_name: str, postgres_url: str | None,
                    clock: ManualClock) -> dict[str, Backend]:
    opened = {"memory": await open_backend("memory://", clock=clock),
              "sqlite": await open_backend(f"sqlite:///{tmp_path / db_name}", clock=clock)}
    if postgres_url:
        opened["postgres"] = await open_backend(postgres_url, clock=clock)
    return opened


@contextlib.contextmanager
def lockstep_backends(request: pytest.FixtureRequest, tmp_path: Path,
                      db_name: str) -> Iterator[tuple[asyncio.AbstractEventLoop, dict[str, Backend], ManualClock]]:
    """A private event loop, the opened backends by name, and their shared clock; all closed afterwards."""
    server = None
    try:
        server = request.getfixturevalue("postgres_server")
    except pytest.skip.Exception:  # no Postgres here: fine locally, a failure in CI
        if os.environ.get("CI"):
            raise
    loop = asyncio.new_event_loop()
    postgres_url = None if server is None else loop.run_until_complete(server.create_database())
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    backends = loop.run_until_complete(_open_all(tmp_path, db_name, postgres_url, clock))
    try:
        yield loop, backends, clock
    finally:
        for backend in backends.values():
            loop.run_until_complete(backend.close())
        if server is not None and postgres_url is not None:
            loop.run_until_complete(server.drop_database(postgres_url))
        loop.close()


def run_in_lockstep(machine: Any, request: pytest.FixtureRequest, tmp_path: Path, db_name: str, *,
                    steps: int, examples: int = 30) -> None:
    """Run ``machine`` (a RuleBasedStateMachine class with ``loop``/``backends``/``clock``/``examples``
    class attributes) over the lockstep backends, bounded so CI stays fast."""
    with lockstep_backends(request, tmp_path, db_name) as (loop, backends, clock):
        machine.loop = loop
        machine.backends = backends
        machine.clock = clock
        machine.examples = itertools.count()
        run_state_machine_as_test(machine, settings=settings(
            max_examples=examples, stateful_step_count=steps, deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ))
