"""Run every benchmark and print one table: each figure, its baseline measured in the same run, the ratio,
the target from issue 12 and whether it is met.

    python -m bench [--smoke] [--only NAME[,NAME]] [--markdown] [--json PATH] [--seconds S] [--rounds N] ...
    python bench/run.py ...   (the same)

Every benchmark module (``bench_*.py``) exposes ``run(Context) -> list[Figure]``; its own ``main()`` prints
the same table for its rows alone. Progress goes to stderr, the table to stdout. Exit status 1 when a
benchmark failed (its row says why); Postgres rows are skipped, with a note, when no Postgres is available.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import signal
import sys
import time
import traceback
from collections.abc import Callable
from pathlib import Path
from types import FrameType

import bench_auth
import bench_health
import bench_ledger
import bench_me
import bench_memory
import bench_startup
import bench_transfer
from harness import Context, add_arguments, options_from, use_wrk
from report import Figure, failed, render, to_json

BENCHMARKS: dict[str, Callable[[Context], list[Figure]]] = {
    bench_health.NAME: bench_health.run,
    bench_me.NAME: bench_me.run,
    bench_auth.NAME: bench_auth.run,
    bench_memory.NAME: bench_memory.run,
    bench_startup.NAME: bench_startup.run,
    bench_ledger.NAME: bench_ledger.run,
    bench_transfer.NAME: bench_transfer.run,
}


def _selected(only: list[str]) -> list[str]:
    names = [n.strip() for chunk in only for n in chunk.split(",") if n.strip()]
    unknown = [n for n in names if n not in BENCHMARKS]
    if unknown:
        raise SystemExit(f"unknown benchmark {', '.join(unknown)} (known: {', '.join(BENCHMARKS)})")
    return [n for n in BENCHMARKS if n in names] if names else list(BENCHMARKS)


def _terminate(signum: int, frame: FrameType | None) -> None:
    # Unwind normally on SIGTERM, so servers and the throwaway Postgres cluster are stopped.
    raise SystemExit(128 + signum)


def _loadavg() -> str:
    """The 1/5/15-minute load averages: how busy the (possibly shared) machine was."""
    return "/".join(f"{n:.2f}" for n in os.getloadavg())


def summary(figures: list[Figure]) -> str:
    targets = [f for f in figures if f.target is not None]
    met = sum(1 for f in targets if f.met is True)
    missed = [f for f in targets if f.met is False]
    unmeasured = sum(1 for f in targets if f.met is None)
    text = f"targets: {met} met, {len(missed)} not met" + (f", {unmeasured} not measured" if unmeasured else "")
    if missed:
        text += " (" + "; ".join(f"{f.bench}: {f.name}" for f in missed) + ")"
    return text


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(prog="python -m bench", description=(__doc__ or "").split("\n\n")[0])
    add_arguments(parser)
    parser.add_argument("--only", action="append", default=[], metavar="NAME",
                        help=f"run only these benchmarks (repeatable or comma-separated): {', '.join(BENCHMARKS)}")
    args = parser.parse_args(argv)
    names = _selected(args.only)
    options = options_from(args)
    signal.signal(signal.SIGTERM, _terminate)

    client = "wrk" if use_wrk(options) else (
        "Python load generator" + (" (wrk not installed)" if options.client == "auto" else ""))
    print(f"bench: {', '.join(names)}{' (smoke: figures mean nothing)' if options.smoke else ''}; load from "
          f"{client}; {options.rounds} round(s) of {options.seconds} s at {options.connections} connections",
          file=sys.stderr, flush=True)
    load_at_start = _loadavg()
    figures: list[Figure] = []
    any_failed = False
    began = time.perf_counter()
    with Context(options) as ctx:
        for name in names:
            started = time.perf_counter()
            try:
                rows = BENCHMARKS[name](ctx)
                if not rows:
                    rows = [failed(name, "produced no figure")]
            except Exception as exc:  # noqa: BLE001 - one broken benchmark must not hide the others' rows
                traceback.print_exc(file=sys.stderr)
                rows = [failed(name, f"FAILED: {type(exc).__name__}: {str(exc).strip().splitlines()[0]}")]
            any_failed |= any(row.failed for row in rows)
            figures += rows
            print(f"bench: {name} done in {time.perf_counter() - started:.1f} s", file=sys.stderr, flush=True)
    elapsed = time.perf_counter() - began
    load_before, load_after = load_at_start, _loadavg()

    print(render(figures, markdown=args.markdown))
    print()
    print(summary(figures) + f"; {elapsed:.0f} s" + (" (smoke)" if options.smoke else "")
          + f"; load average {load_before} before, {load_after} after")
    if args.json:
        Path(args.json).write_text(to_json(
            figures, smoke=options.smoke, benchmarks=names, seconds=elapsed, client=client,
            wrk=shutil.which("wrk") is not None, python=platform.python_version(), cpus=os.cpu_count(),
            load_average={"before": load_before, "after": load_after}))
    return 1 if any_failed else 0


if __name__ == "__main__":
    sys.exit(main())
