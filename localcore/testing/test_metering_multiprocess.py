"""Ledger contract across OS processes: four processes share ONE SQLite file or ONE Postgres database.

Each worker (this module run as ``python -m localcore.testing.test_metering_multiprocess``) opens the
backend URL itself, waits at a file barrier so all four start together, then races the others:

- one reserve of a run every worker shares (the same user): all must get the same reservation id;
- fifteen reserves of distinct runs against a balance that fits 40 holds in all;
- then (second barrier) the same ten usage ids recorded by every worker: each is inserted exactly once.

The memory backend lives inside one process, so the test does not apply to it (skipped, saying so).
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import datetime
from pathlib import Path
from typing import Any

import pytest

from localcore.clock import ManualClock
from localcore.contract.ledger import InsufficientCreditError
from localcore.store import Backend
from localcore.testing.test_metering_support import bal, raw

PROCESSES = 4
RESERVES_PER_PROCESS = 15
HOLD = 25
GRANT = 1_000  # fits 40 holds of 25: the shared run plus 39 distinct ones
USAGE_IDS = 10
USER = "mp-user"


async def _wait_for(paths: list[str]) -> None:
    deadline = time.monotonic() + 60
    while not all(os.path.exists(p) for p in paths):
        if time.monotonic() > deadline:
            raise TimeoutError(f"barrier never opened: {paths}")
        await asyncio.sleep(0.005)


async def _worker(url: str, index: int, start: str, barrier: str) -> dict[str, Any]:
    from backends import open_backend

    clock = ManualClock(datetime.fromisoformat(start))
    backend = await open_backend(url, clock=clock)
    try:
        m = backend.metering
        Path(f"{barrier}.ready.{index}").touch()
        await _wait_for([barrier])
        shared = await m.reserve(USER, "mp-shared-run", HOLD, 3600)
        admitted, refused = [], 0
        for i in range(RESERVES_PER_PROCESS):
            try:
                admitted.append(await m.reserve(USER, f"mp-{index}-{i}", HOLD, 3600))
            except InsufficientCreditError:
                refused += 1
        # phase two starts when every worker is done reserving (usage debits would shrink the balance)
        Path(f"{barrier}.{index}").touch()
        await _wait_for([f"{barrier}.{i}" for i in range(PROCESSES)])
        inserted = 0
        for k in range(USAGE_IDS):
            inserted += await m.record_usage(f"mp-use-{k}", USER, 1, run_id="mp-shared-run", model="m")
        return {"shared": shared, "admitted": admitted, "refused": refused, "inserted": inserted}
    finally:
        await backend.close()


@pytest.mark.shared_storage  # not memory: its state lives inside one process, nothing to share
async def test_four_processes_share_one_ledger(backend: Backend, backend_url: str, clock: ManualClock,
                                              tmp_path: Path) -> None:
    m = backend.metering
    await m.grant_once(USER, "initial", GRANT)
    barrier = tmp_path / "go"
    env = {**os.environ, "PYTHONPATH": os.pathsep.join(filter(None, [str(Path.cwd()),
                                                                      os.environ.get("PYTHONPATH")]))}
    procs = [
        subprocess.Popen(
            [sys.executable, "-m", "localcore.testing.test_metering_multiprocess", backend_url, str(i),
             clock().isoformat(), str(barrier)],
            stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env,
        )
        for i in range(PROCESSES)
    ]
    try:
        # every worker has opened the backend before any starts: their transactions really overlap
        await _wait_for([f"{barrier}.ready.{i}" for i in range(PROCESSES)])
        barrier.touch()
        results = []
        for proc in procs:
            out, err = await asyncio.to_thread(proc.communicate, timeout=120)
            assert proc.returncode == 0, err.decode()
            results.append(json.loads(out.decode().strip().splitlines()[-1]))
    finally:
        for proc in procs:
            if proc.poll() is None:
                proc.kill()
                proc.wait()

    assert len({r["shared"] for r in results}) == 1
    admitted = [rid for r in results for rid in r["admitted"]]
    assert len(admitted) == GRANT // HOLD - 1
    assert len(set(admitted)) == len(admitted)
    assert sum(r["refused"] for r in results) == PROCESSES * RESERVES_PER_PROCESS - len(admitted)
    assert sum(r["inserted"] for r in results) == USAGE_IDS
    granted, used, _remaining, reserved, available = await bal(backend, USER)
    assert (granted, used, reserved) == (GRANT, USAGE_IDS, GRANT)
    assert available == -USAGE_IDS
    rows = await raw(backend).list_reservations(USER)
    assert sum(r.status == "active" for r in rows) == GRANT // HOLD


if __name__ == "__main__":
    result = asyncio.run(_worker(sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]))
    print(json.dumps(result))
