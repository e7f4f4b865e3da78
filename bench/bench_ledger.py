"""Ledger benchmark (not a test): per backend (memory, SQLite, Postgres),

1. reserve -> record_usage -> settle cycles per second, next to the same number of bare write transactions
   on that backend's driver (one single-row UPDATE each; memory: an asyncio lock + a dict write), and the
   ratio between the two (a cycle is three ledger transactions);
2. get_balance and reserve+release latency (p50) for a user with 1,000,000 ledger rows (``--rows``), next
   to the same for a user with 10 rows. Balances come from the maintained per-user totals, so both should
   stay flat.

    python bench/bench_ledger.py [--smoke] [--rows 1000000] [--skip-postgres] [--markdown]

Postgres: ``--postgres-url`` or ``LOCALCORE_TEST_POSTGRES_URL`` (a server where a scratch database may be
created), else a throwaway cluster is started with initdb/pg_ctl (fsync off: optimistic for commits). Issue 12
sets no target for these figures.
"""

from __future__ import annotations

import asyncio
import statistics
import tempfile
import time
import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from harness import Context, Options, PostgresUnavailable, create_database, drop_database, main_for
from report import Figure, skipped

from backends import open_backend
from localcore.clock import ManualClock
from localcore.store import Backend

NAME = "ledger"
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


@dataclass
class LedgerFigures:
    cycles_per_s: float
    bare_tx_per_s: float
    balance_small: tuple[float, float]
    balance_big: tuple[float, float]
    reserve_small: tuple[float, float]
    reserve_big: tuple[float, float]
    load_s: float


async def bench_backend(url: str, options: Options) -> LedgerFigures:
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
        cycles_s = await _timed(options.ledger_cycles, cycle)
        bare_s = await _bare_transactions(backend, options.ledger_cycles)

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
        small_balance = await _latency(options.ledger_samples, lambda _i: m.get_balance("small-user"))

        async def small_reserve(i: int) -> None:
            rid = await m.reserve("small-user", f"s-{i}", 1_000, 600)
            await m.finish_reservation("released", reservation_id=rid)
        small_reserve_lat = await _latency(options.ledger_samples, small_reserve)

        start = time.perf_counter()
        await _bulk_load(backend, options.ledger_rows, clock)
        load_s = time.perf_counter() - start
        big_balance = await _latency(options.ledger_samples, balance)
        big_reserve_lat = await _latency(options.ledger_samples, reserve_release)
        final = await m.get_balance(USER)
        assert final.used_micros == 700 * (options.ledger_cycles + 1) + options.ledger_rows, final
        return LedgerFigures(options.ledger_cycles / cycles_s, options.ledger_cycles / bare_s, small_balance,
                             big_balance, small_reserve_lat, big_reserve_lat, load_s)
    finally:
        await backend.close()


LABELS = {"memory": "memory", "sqlite": "SQLite", "postgres": "Postgres"}


def figures(backend: str, options: Options, r: LedgerFigures | None, reason: str | None = None) -> list[Figure]:
    label = LABELS[backend]
    rows = f"{options.ledger_rows:,}"
    bare = "bare driver tx/s" if backend != "memory" else "bare tx/s (asyncio lock + dict write)"
    names = [
        (f"ledger cycles/s ({label}): reserve → usage → settle", "/s", f"{bare}, 1-row UPDATE"
         if backend != "memory" else bare),
        (f"get_balance p50 at {rows} rows ({label})", "ms", "get_balance p50 at 10 rows"),
        (f"reserve+release p50 at {rows} rows ({label})", "ms", "reserve+release p50 at 10 rows"),
    ]
    if r is None:
        return [skipped(NAME, name, unit, base, reason or "not measured") for name, unit, base in names]
    values = [
        (r.cycles_per_s, r.bare_tx_per_s, f"{options.ledger_cycles} cycles, 3 ledger transactions each"),
        (r.balance_big[0], r.balance_small[0],
         f"p95 {r.balance_big[1]:.3f} ms (10 rows: {r.balance_small[1]:.3f}); bulk load {r.load_s:.1f} s"),
        (r.reserve_big[0], r.reserve_small[0], f"p95 {r.reserve_big[1]:.3f} ms (10 rows: {r.reserve_small[1]:.3f})"),
    ]
    return [Figure(NAME, name, value, unit, base, baseline, note=note)
            for (name, unit, base), (value, baseline, note) in zip(names, values, strict=True)]


async def _measure(ctx: Context, backend: str, tmp: str) -> LedgerFigures:
    if backend == "memory":
        return await bench_backend("memory://", ctx.options)
    if backend == "sqlite":
        return await bench_backend(f"sqlite:///{tmp}/bench.db", ctx.options)
    admin = await asyncio.to_thread(ctx.postgres_admin)
    url, name = await create_database(admin)
    try:
        return await bench_backend(url, ctx.options)
    finally:
        await drop_database(admin, name)


def run(ctx: Context) -> list[Figure]:
    out: list[Figure] = []
    with tempfile.TemporaryDirectory(prefix="lc-bench-") as tmp:
        for backend in ctx.options.ledger_backends:
            try:
                measured = asyncio.run(_measure(ctx, backend, tmp))
            except PostgresUnavailable as exc:
                out += figures(backend, ctx.options, None, str(exc))
                continue
            out += figures(backend, ctx.options, measured)
    return out


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
