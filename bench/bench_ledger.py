"""Ledger benchmark (not a test): per backend,

1. reserve -> record_usage -> settle cycles per second, next to the same number of bare write transactions
   on that backend's driver (one single-row UPDATE each; memory: an asyncio lock + a dict write), and the
   ratio between the two (a cycle is three ledger transactions);
2. get_balance and reserve+release latency for a user with 10 ledger rows, and again after bulk-loading
   that user's ledger to ``--rows`` rows (default 1,000,000). Balances come from the maintained per-user
   totals, so both figures should stay flat.

Usage::

    python bench/bench_ledger.py [--rows 1000000] [--cycles 500] [--backends memory,sqlite,postgres]
                                 [--postgres-url postgresql://...]

Postgres: ``--postgres-url`` or ``LOCALCORE_TEST_POSTGRES_URL`` (a server where a scratch database may be
created), else a throwaway cluster is started with initdb/pg_ctl (fsync off: optimistic for commits).
"""

from __future__ import annotations

import argparse
import asyncio
import os
import statistics
import sys
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from backends import open_backend
from localcore.clock import ManualClock
from localcore.store import Backend

USER = "bench-user"


def _micros(value: datetime) -> int:
    delta = value - datetime(1970, 1, 1, tzinfo=UTC)
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


async def _timed(n: int, op: Callable[[int], Awaitable[Any]]) -> float:
    start = time.perf_counter()
    for i in range(n):
        await op(i)
    return time.perf_counter() - start


async def _latency(n: int, op: Callable[[int], Awaitable[Any]]) -> tuple[float, float]:
    """(p50, p95) in milliseconds, after a warm-up (every pooled connection prepares its statements)."""
    for i in range(-20, 0):
        await op(i)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        await op(i)
        samples.append((time.perf_counter() - start) * 1000)
    samples.sort()
    return statistics.median(samples), samples[int(len(samples) * 0.95) - 1]


async def _bare_transactions(backend: Backend, n: int) -> float:
    if backend.kind == "memory":
        lock, table = asyncio.Lock(), {"k": 0}

        async def bare(i: int) -> None:
            async with lock:
                await asyncio.sleep(0)
                table["k"] = i
        return await _timed(n, bare)
    db = backend.db  # type: ignore[attr-defined]
    await db.execute("CREATE TABLE IF NOT EXISTS bench_scratch (k integer PRIMARY KEY, v integer NOT NULL)")
    await db.execute("INSERT INTO bench_scratch (k, v) VALUES (1, 0) ON CONFLICT (k) DO NOTHING")

    async def bare_sql(i: int) -> None:
        async with db.transaction() as tx:
            await tx.execute("UPDATE bench_scratch SET v = $1 WHERE k = 1", i)
    return await _timed(n, bare_sql)


async def _bulk_load(backend: Backend, rows: int, clock: ManualClock) -> None:
    """Give USER ``rows`` ledger rows (1 micro each, spread over the past), keeping the totals in step."""
    base = clock() - timedelta(days=1)
    if backend.kind == "memory":
        from backends.memory.metering import _Tx
        from localcore.contract.ledger import UsageLedgerRecord

        store = backend.metering
        tx = _Tx(store._state)  # type: ignore[attr-defined]
        for n in range(rows):
            tx.add_usage(UsageLedgerRecord(id=f"bulk-{n}", user_id=USER, billed_cost_micros=1,
                                           created_at=base + timedelta(microseconds=n), source="pi-chat",
                                           run_id=f"bulk-run-{n % 1000}"))
        tx.commit()
        return
    db = backend.db  # type: ignore[attr-defined]
    async with db.transaction() as tx:
        if db.dialect == "sqlite":
            await tx.execute(
                "WITH RECURSIVE s(n) AS (SELECT 1 UNION ALL SELECT n + 1 FROM s WHERE n < $2) "
                "INSERT INTO boring_usage_ledger (id, user_id, run_id, source, billed_cost_micros, metadata, "
                "created_at) SELECT 'bulk-' || n, $1, 'bulk-run-' || (n % 1000), 'pi-chat', 1, '{}', $3 + n FROM s",
                USER, rows, _micros(base),
            )
        else:
            await tx.execute(
                "INSERT INTO boring_usage_ledger (id, user_id, run_id, source, billed_cost_micros, metadata, "
                "created_at) SELECT 'bulk-' || n, $1, 'bulk-run-' || (n % 1000), 'pi-chat', 1, '{}'::jsonb, "
                "$3::timestamptz + n * interval '1 microsecond' FROM generate_series(1, $2::bigint) AS n",
                USER, rows, base,
            )
        await tx.execute("UPDATE boring_credit_balances SET used_micros = used_micros + $2 WHERE user_id = $1",
                         USER, rows)
    if db.dialect == "postgres":
        await db.execute("VACUUM ANALYZE")  # settle the bulk load (no autovacuum racing the timings)
    else:
        async with db.transaction() as tx:
            await tx.execute("ANALYZE")


async def bench_backend(name: str, url: str, args: argparse.Namespace) -> dict[str, Any]:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    backend = await open_backend(url, clock=clock)
    try:
        m = backend.metering
        await m.grant_once(USER, "bench", 2**52)

        async def cycle(i: int) -> None:
            rid = await m.reserve(USER, f"cycle-{i}", 1_000, 600)
            await m.record_usage(f"cycle-use-{i}", USER, 700, run_id=f"cycle-{i}",
                                 metadata={"reservationId": rid})
            await m.finish_reservation("settled", reservation_id=rid)

        await cycle(-1)  # warm up connections and statement caches
        cycles_s = await _timed(args.cycles, cycle)
        bare_s = await _bare_transactions(backend, args.cycles)

        async def balance(_i: int) -> None:
            await m.get_balance(USER)

        async def reserve_release(i: int) -> None:
            rid = await m.reserve(USER, f"lat-{i}-{uuid.uuid4().hex[:6]}", 1_000, 600)
            await m.finish_reservation("released", reservation_id=rid)

        # back to a user with 10 ledger rows for the "small" figures
        small_user_rows = 10
        for i in range(small_user_rows):
            await m.record_usage(f"small-{i}", "small-user", 1)
        await m.grant_once("small-user", "bench", 2**52)
        small_balance = await _latency(args.samples, lambda _i: m.get_balance("small-user"))

        async def small_reserve(i: int) -> None:
            rid = await m.reserve("small-user", f"s-{i}", 1_000, 600)
            await m.finish_reservation("released", reservation_id=rid)
        small_reserve_lat = await _latency(args.samples, small_reserve)

        start = time.perf_counter()
        await _bulk_load(backend, args.rows, clock)
        load_s = time.perf_counter() - start
        big_balance = await _latency(args.samples, balance)
        big_reserve_lat = await _latency(args.samples, reserve_release)
        final = await m.get_balance(USER)
        assert final.used_micros == 700 * (args.cycles + 1) + args.rows, final
        return {
            "backend": name,
            "cycles_per_s": args.cycles / cycles_s,
            "bare_tx_per_s": args.cycles / bare_s,
            "ratio": (args.cycles / cycles_s) / (args.cycles / bare_s),
            "balance_small": small_balance,
            "balance_big": big_balance,
            "reserve_small": small_reserve_lat,
            "reserve_big": big_reserve_lat,
            "load_s": load_s,
        }
    finally:
        await backend.close()


async def _postgres_database(admin_url: str) -> tuple[str, Callable[[], Awaitable[None]]]:
    import asyncpg

    name = f"lc_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    parts = urlsplit(admin_url)
    url = urlunsplit(parts._replace(path=f"/{name}"))

    async def drop() -> None:
        conn = await asyncpg.connect(admin_url)
        try:
            await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
        finally:
            await conn.close()
    return url, drop


async def main(args: argparse.Namespace) -> None:
    wanted = args.backends.split(",")
    results = []
    cluster = None
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        try:
            for name in wanted:
                if name == "memory":
                    results.append(await bench_backend(name, "memory://", args))
                elif name == "sqlite":
                    results.append(await bench_backend(name, f"sqlite:///{tmp}/bench.db", args))
                elif name == "postgres":
                    admin = args.postgres_url or os.environ.get("LOCALCORE_TEST_POSTGRES_URL")
                    if not admin:
                        from localcore.testing.pgcluster import ThrowawayCluster

                        cluster = ThrowawayCluster()
                        admin = await asyncio.to_thread(cluster.start)
                    url, drop = await _postgres_database(admin)
                    try:
                        results.append(await bench_backend(name, url, args))
                    finally:
                        await drop()
                else:
                    raise SystemExit(f"unknown backend {name!r}")
        finally:
            if cluster is not None:
                await asyncio.to_thread(cluster.stop)

    rows = f"{args.rows:,}"
    print(f"\nledger benchmark: {args.cycles} cycles, {args.samples} latency samples, big ledger = {rows} rows")
    print(f"{'backend':9} {'cycles/s':>9} {'bare tx/s':>10} {'ratio':>6}  "
          f"{'balance p50/p95 ms @10':>23} {'@' + rows:>16}  {'reserve+release p50 ms @10':>27} {'@' + rows:>12}"
          f"  {'load s':>7}")
    for r in results:
        print(f"{r['backend']:9} {r['cycles_per_s']:9.0f} {r['bare_tx_per_s']:10.0f} {r['ratio']:6.2f}  "
              f"{r['balance_small'][0]:11.3f}/{r['balance_small'][1]:.3f}"
              f"{r['balance_big'][0]:11.3f}/{r['balance_big'][1]:.3f}"
              f"  {r['reserve_small'][0]:27.3f} {r['reserve_big'][0]:12.3f}  {r['load_s']:7.1f}")


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--rows", type=int, default=1_000_000)
    parser.add_argument("--cycles", type=int, default=500)
    parser.add_argument("--samples", type=int, default=200)
    parser.add_argument("--backends", default="memory,sqlite,postgres")
    parser.add_argument("--postgres-url", default=None)
    asyncio.run(main(parser.parse_args()))
