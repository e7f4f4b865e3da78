"""``GET /health`` on localcore (SQLite, default config, every middleware) against a bare aiohttp handler,
in alternating rounds of the same run.

    python bench/bench_health.py [--smoke] [--seconds 5] [--rounds 3] [--connections 32] [--markdown]

Target (issue 12): ``GET /health`` >= 0.8x the bare handler's requests/s.
"""

from __future__ import annotations

import tempfile

from harness import Context, Subject, alternate, bare, localcore, main_for, running
from report import Figure, at_least

NAME = "health"


def run(ctx: Context) -> list[Figure]:
    with tempfile.TemporaryDirectory() as data_dir, running(bare(), localcore(data_dir)) as (base, ours):
        measured = alternate(ctx.options, [Subject("bare", base.url + "/health"),
                                           Subject("ours", ours.url + "/health")])
    bare_m, ours_m = measured["bare"], measured["ours"]
    return [Figure(NAME, "GET /health (SQLite, all middleware)", ours_m.rps, "req/s",
                   "bare aiohttp JSON handler", bare_m.rps, target=at_least(0.8, "≥ 0.8x bare"),
                   note=f"{ours_m.note()}; bare p99 {bare_m.p99:.2f} ms")]


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
