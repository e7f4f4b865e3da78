"""Start-up: from exec of ``python -m localcore serve`` to the first 200 from ``GET /health``, against the bare
aiohttp server (``python bench/bare_server.py``) started the same way, in alternating samples, medians kept.

    python bench/bench_startup.py [--smoke] [--markdown]

- cold start: a fresh data dir each time (creates the SQLite file, runs every migration, makes the secrets);
- restart: the same data dir again (what a desktop launch or a service restart costs).

Both include the interpreter's own start and every import. Target (issue 12): cold start <= 0.5 s.
"""

from __future__ import annotations

import statistics
import tempfile

from harness import Context, Server, bare, localcore, main_for
from report import Figure, at_most

NAME = "startup"
POLL = 0.005


def time_to_healthy(server: Server) -> float:
    try:
        server.start()
        return server.wait_healthy(interval=POLL)
    finally:
        server.stop()


def run(ctx: Context) -> list[Figure]:
    cold: list[float] = []
    warm: list[float] = []
    base: list[float] = []
    with tempfile.TemporaryDirectory() as kept:
        for n in range(ctx.options.starts):
            base.append(time_to_healthy(bare()))
            with tempfile.TemporaryDirectory() as fresh:
                cold.append(time_to_healthy(localcore(fresh)))
            if n == 0:
                time_to_healthy(localcore(kept))  # create it once
            warm.append(time_to_healthy(localcore(kept)))
    samples = f"median of {len(cold)} starts" if len(cold) > 1 else "1 start"
    baseline = "bare aiohttp server start"
    return [
        Figure(NAME, "cold start to healthy (fresh data dir)", statistics.median(cold), "s", baseline,
               statistics.median(base), target=at_most(0.5, "≤ 0.5 s"),
               note=f"{samples} ({min(cold):.3f}-{max(cold):.3f} s), polled every {POLL * 1000:.0f} ms"),
        Figure(NAME, "restart to healthy (existing data dir)", statistics.median(warm), "s", baseline,
               statistics.median(base), note=f"{samples} ({min(warm):.3f}-{max(warm):.3f} s)"),
    ]


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
