"""Export/import benchmark (not a test): ``python -m localcore export`` and ``import`` of a SQLite database
with 1,000,000 ledger rows (``--rows``), each a real subprocess, against bare drivers in the same run.

1. export rows/s, next to a bare ``sqlite3`` loop that reads the same rows and writes each as a JSON line;
2. import rows/s into a new SQLite file and into Postgres, next to a bare ``executemany`` of the same rows
   (``sqlite3``; asyncpg) into a table of the same shape;
3. peak RSS growth of the export and the import (the subprocess' ``VmHWM``, its resident high-water mark,
   polled from /proc until it exits; ``ru_maxrss`` would count the pages it shared with this process before
   ``exec``) at the full row count over the same command on an empty database: streaming keeps it flat
   (target: at most ``FLAT_MIB``, whatever the row count).

Rows/s count every row of the file (the ledger dominates) over the time each command reports for its own
work ("N rows in S s": opening the backend, the transfer and its checks; not the interpreter's start).

    python bench/bench_transfer.py [--smoke] [--rows 1000000] [--skip-postgres] [--markdown]
"""

from __future__ import annotations

import asyncio
import json
import os
import re
import sqlite3
import subprocess
import sys
import tempfile
import time
from pathlib import Path

from harness import ROOT, Context, PostgresUnavailable, main_for
from report import Figure, at_most, skipped

from backends import open_backend

NAME = "transfer"
USERS = 1_000
FLAT_MIB = 32.0
LEDGER_COLUMNS = ("id", "user_id", "source", "provider", "model", "input_tokens", "output_tokens",
                  "billed_cost_micros", "metadata", "created_at")
START_MICROS = 1_767_225_600_000_000  # 2026-01-01


def _env() -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH"}
    return {**{k: v for k, v in os.environ.items() if k in keep}, "LOCALCORE_KEYRING": "null"}


def _ledger_rows(rows: int) -> list[tuple[object, ...]]:
    return [(f"usage-{i:08d}", f"00000000-0000-4000-8000-{i % USERS:012d}", "llm", "acme", "m-1", 100 + i % 50,
             20, 1_000 + i % 7, '{"k":"v"}', START_MICROS + i) for i in range(rows)]


def make_database(path: Path, rows: int) -> int:
    """A migrated SQLite database with ``USERS`` users, their grants and balance rows and ``rows`` ledger
    rows, consistent with the ledger's identities; returns the rows in it."""
    asyncio.run(_migrate(f"sqlite:///{path}"))
    conn = sqlite3.connect(path)
    users = [(f"00000000-0000-4000-8000-{u:012d}", f"User {u}", f"user{u}@example.com", 1, START_MICROS,
              START_MICROS) for u in range(USERS)]
    conn.executemany("INSERT INTO users (id, name, email, email_verified, created_at, updated_at) "
                     "VALUES (?, ?, ?, ?, ?, ?)", users)
    conn.executemany("INSERT INTO boring_credit_grants (id, user_id, amount_micros, reason, expires_at, created_at) "
                     "VALUES (?, ?, 2000000000, 'signup', NULL, ?)", [(f"g-{u[0]}", u[0], START_MICROS) for u in users])
    used = {u[0]: 0 for u in users}
    for start in range(0, rows, 100_000):
        batch = _ledger_rows(min(rows, start + 100_000))[start:]
        for row in batch:
            used[str(row[1])] += int(row[7])  # type: ignore[call-overload]
        conn.executemany(f"INSERT INTO boring_usage_ledger ({', '.join(LEDGER_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(LEDGER_COLUMNS))})", batch)
    conn.executemany("INSERT INTO boring_credit_balances (user_id, perpetual_granted_micros, used_micros, updated_at) "
                     "VALUES (?, 2000000000, ?, ?)", [(u, n, START_MICROS) for u, n in used.items()])
    conn.commit()
    conn.close()
    return USERS * 3 + rows


async def _migrate(url: str) -> None:
    backend = await open_backend(url)
    await backend.close()


def measure(*args: str, cwd: Path) -> tuple[float, float]:
    """(the seconds the command reports for its work, its peak RSS in MiB) of ``python -m localcore ARGS``,
    each in its own process; a non-zero exit is an error."""
    with tempfile.TemporaryFile() as out, tempfile.TemporaryFile() as err:
        proc = subprocess.Popen([sys.executable, "-m", "localcore", *args], cwd=cwd, env=_env(), stdout=out,
                                stderr=err)
        peak = 0.0
        while proc.poll() is None:
            peak = max(peak, _high_water_mib(proc.pid))
            time.sleep(0.02)
        out.seek(0)
        err.seek(0)
        stdout, stderr = out.read().decode(), err.read().decode()
    if proc.returncode != 0:
        raise RuntimeError(f"localcore {args[0]} exited {proc.returncode}: {stderr[-500:]}")
    reported = re.search(r" rows in ([0-9.]+) s", stdout)
    if reported is None:
        raise RuntimeError(f"localcore {args[0]} reported no duration: {stdout[:300]}")
    return float(reported.group(1)), peak


def _high_water_mib(pid: int) -> float:
    """``VmHWM`` of a running process in MiB (0 once it is gone)."""
    try:
        for line in Path(f"/proc/{pid}/status").read_text().splitlines():
            if line.startswith("VmHWM:"):
                return int(line.split()[1]) / 1024
    except OSError:
        pass
    return 0.0


def bare_export(database: Path, out: Path) -> float:
    """Seconds to read every ledger row with sqlite3 and write it as a JSON line."""
    started = time.perf_counter()
    conn = sqlite3.connect(database)
    with out.open("w") as file:
        cursor = conn.execute("SELECT * FROM boring_usage_ledger")
        names = [d[0] for d in cursor.description]
        while batch := cursor.fetchmany(2_000):
            file.write("".join(json.dumps({"t": "boring_usage_ledger", "r": dict(zip(names, row, strict=True))})
                               + "\n" for row in batch))
    conn.close()
    return time.perf_counter() - started


def bare_import_sqlite(path: Path, rows: int) -> float:
    asyncio.run(_migrate(f"sqlite:///{path}"))
    conn = sqlite3.connect(path, isolation_level=None)
    data = _ledger_rows(rows)
    started = time.perf_counter()
    conn.execute("BEGIN IMMEDIATE")
    for start in range(0, rows, 2_000):
        conn.executemany(f"INSERT INTO boring_usage_ledger ({', '.join(LEDGER_COLUMNS)}) VALUES "
                         f"({', '.join('?' * len(LEDGER_COLUMNS))})", data[start:start + 2_000])
    conn.execute("COMMIT")
    conn.close()
    return time.perf_counter() - started


async def _bare_import_postgres(url: str, rows: int) -> float:
    from datetime import UTC, datetime, timedelta

    import asyncpg

    await _migrate(url)
    conn = await asyncpg.connect(url)
    base = datetime(2026, 1, 1, tzinfo=UTC)
    data = [(*row[:8], row[8], base + timedelta(microseconds=i)) for i, row in enumerate(_ledger_rows(rows))]
    started = time.perf_counter()
    async with conn.transaction():
        for start in range(0, rows, 2_000):
            await conn.executemany(f"INSERT INTO boring_usage_ledger ({', '.join(LEDGER_COLUMNS)}) VALUES "
                                   f"({', '.join(f'${i}' for i in range(1, len(LEDGER_COLUMNS) + 1))})",
                                   data[start:start + 2_000])
    await conn.close()
    return time.perf_counter() - started


def run(ctx: Context) -> list[Figure]:
    rows = ctx.options.ledger_rows
    with tempfile.TemporaryDirectory() as tmp:
        work = Path(tmp)
        big, empty = work / "big.db", work / "empty.db"
        total = make_database(big, rows)
        asyncio.run(_migrate(f"sqlite:///{empty}"))
        _, e_rss = measure("export", str(work / "empty.jsonl"), "--database-url", f"sqlite:///{empty}", cwd=ROOT)
        export_secs, x_rss = measure("export", str(work / "big.jsonl"), "--database-url", f"sqlite:///{big}",
                                     cwd=ROOT)
        bare_x = bare_export(big, work / "bare.jsonl")
        _, ie_rss = measure("import", str(work / "empty.jsonl"), "--database-url",
                            f"sqlite:///{work / 'empty-target.db'}", cwd=ROOT)
        import_secs, i_rss = measure("import", str(work / "big.jsonl"), "--database-url",
                                     f"sqlite:///{work / 'target.db'}", cwd=ROOT)
        bare_i = bare_import_sqlite(work / "bare-target.db", rows)
        size = (work / "big.jsonl").stat().st_size / 2**20
        figures = [
            Figure(NAME, f"export rows/s (SQLite, {rows:,} ledger rows)", total / export_secs, "rows/s",
                   "bare sqlite3 read + json.dumps per row", rows / bare_x,
                   note=f"{export_secs:.1f} s for {total:,} rows (file {size:,.0f} MiB, sha256 included)"),
            Figure(NAME, f"import rows/s (into SQLite, {rows:,} ledger rows)", total / import_secs, "rows/s",
                   "bare sqlite3 executemany, one transaction", rows / bare_i,
                   note=f"{import_secs:.1f} s incl. checksums, counts and ledger identities"),
            Figure(NAME, f"export peak RSS growth at {rows:,} rows", x_rss - e_rss, "MiB",
                   "peak RSS of the same export of an empty database", e_rss,
                   target=at_most(FLAT_MIB, f"flat (≤ {FLAT_MIB:g} MiB)"), note=f"{e_rss:.1f} → {x_rss:.1f} MiB"),
            Figure(NAME, f"import peak RSS growth at {rows:,} rows", i_rss - ie_rss, "MiB",
                   "peak RSS of the same import of an empty export", ie_rss,
                   target=at_most(FLAT_MIB, f"flat (≤ {FLAT_MIB:g} MiB)"), note=f"{ie_rss:.1f} → {i_rss:.1f} MiB"),
        ]
        figures.append(_postgres_import(ctx, work, rows, total))
    return figures


def _postgres_import(ctx: Context, work: Path, rows: int, total: int) -> Figure:
    name = f"import rows/s (into Postgres, {rows:,} ledger rows)"
    try:
        with ctx.postgres_database() as url, ctx.postgres_database() as bare_url:
            seconds, rss = measure("import", str(work / "big.jsonl"), "--database-url", url, cwd=ROOT)
            bare = asyncio.run(_bare_import_postgres(bare_url, rows))
    except PostgresUnavailable as exc:
        return skipped(NAME, name, "rows/s", "bare asyncpg executemany", str(exc))
    return Figure(NAME, name, total / seconds, "rows/s", "bare asyncpg executemany, one transaction", rows / bare,
                  note=f"{seconds:.1f} s incl. checksums, counts and ledger identities; peak RSS {rss:.1f} MiB")


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
