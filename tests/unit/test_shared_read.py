"""``backends.postgres.identity_version.SharedRead``: every caller gets the value of a read that started
after it called; concurrent callers share reads; one caller giving up cancels nobody else's read; an
unreachable storage is None and a bug is raised to every waiter of that read."""

from __future__ import annotations

import asyncio

import pytest

from backends.postgres.identity_version import SharedRead
from localcore.contract.errors import StorageUnavailable


async def settle() -> None:
    """Let every ready task run until each waits on something."""
    for _ in range(10):
        await asyncio.sleep(0)


class Storage:
    """A counter whose reads the test releases one at a time, recording when each started."""

    def __init__(self) -> None:
        self.value = 0
        self.started: list[int] = []  # the value current when each read started
        self.gates: list[asyncio.Event] = []
        self.fail: BaseException | None = None

    async def read(self) -> int:
        seen = self.value
        self.started.append(seen)
        gate = asyncio.Event()
        self.gates.append(gate)
        await gate.wait()
        if self.fail is not None:
            raise self.fail
        return seen

    async def release(self, index: int) -> None:
        while len(self.gates) <= index:
            await settle()
        self.gates[index].set()


async def test_a_read_in_flight_when_the_caller_came_does_not_answer_it() -> None:
    storage = Storage()
    shared = SharedRead(storage.read)
    first = asyncio.ensure_future(shared())
    await settle()
    assert storage.started == [0]
    storage.value = 1  # a commit lands after read 0 took its snapshot, before the next callers came
    second, third = asyncio.ensure_future(shared()), asyncio.ensure_future(shared())
    await settle()
    assert storage.started == [0], "a second read started while one was in flight"
    await storage.release(0)
    assert await first == 0
    await storage.release(1)
    assert await second == 1 and await third == 1
    assert storage.started == [0, 1], "the two late callers did not share one read"


async def test_an_idle_caller_starts_its_own_read() -> None:
    storage = Storage()
    shared = SharedRead(storage.read)
    for value in (3, 4, 5):
        storage.value = value
        call = asyncio.ensure_future(shared())
        await storage.release(len(storage.gates))
        assert await call == value


async def test_a_caller_giving_up_cancels_nobody_elses_read() -> None:
    storage = Storage()
    shared = SharedRead(storage.read)
    impatient = asyncio.ensure_future(shared())
    await settle()
    patient = asyncio.ensure_future(shared())  # queued behind the impatient one's read
    other = asyncio.ensure_future(shared())
    await settle()
    impatient.cancel()
    patient.cancel()
    await storage.release(0)
    await storage.release(1)
    assert await other == 0
    assert len(storage.started) == 2, "cancelling waiters changed the reads"
    for gone in (impatient, patient):
        with pytest.raises(asyncio.CancelledError):
            await gone


async def test_callers_arriving_before_the_query_is_sent_share_it() -> None:
    storage = Storage()
    shared = SharedRead(storage.read)
    calls = [asyncio.ensure_future(shared()) for _ in range(5)]  # one tick: no read has started yet
    await settle()
    await storage.release(0)
    assert [await call for call in calls] == [0] * 5
    assert len(storage.started) == 1


async def test_an_unreachable_storage_is_none() -> None:
    storage = Storage()
    storage.fail = StorageUnavailable("database unavailable")
    shared = SharedRead(storage.read)
    call = asyncio.ensure_future(shared())
    await storage.release(0)
    assert await call is None
    storage.fail = None
    storage.value = 7
    call = asyncio.ensure_future(shared())
    await storage.release(1)
    assert await call == 7, "a failed read left the next caller without one"


async def test_a_bug_reaches_every_waiter_of_that_read_and_the_next_read_still_runs() -> None:
    storage = Storage()
    shared = SharedRead(storage.read)
    first = asyncio.ensure_future(shared())
    await settle()
    storage.fail = RuntimeError("schema without the counter")
    late = asyncio.ensure_future(shared())
    await storage.release(0)
    with pytest.raises(RuntimeError):
        await first
    await storage.release(1)
    with pytest.raises(RuntimeError):
        await late


async def test_close_cancels_the_read_in_flight_and_the_queued_callers() -> None:
    storage = Storage()
    shared = SharedRead(storage.read)
    first = asyncio.ensure_future(shared())
    await settle()
    queued = asyncio.ensure_future(shared())
    await settle()
    await shared.close()
    for call in (first, queued):
        with pytest.raises(asyncio.CancelledError):
            await call
    await shared.close()  # idempotent
