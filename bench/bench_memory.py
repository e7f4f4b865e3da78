"""Server memory under load: resident set size after N authenticated requests, and its growth between 10,000
and 50,000 requests, against a bare aiohttp handler given the same requests in the same run.

    python bench/bench_memory.py [--smoke] [--markdown]

A fresh ``python -m localcore`` (SQLite, rate limits off) gets exactly 10,000 then 40,000 more
``GET /api/v1/me`` with a session cookie from the Python load generator (wrk cannot stop at a count); RSS is
read from /proc after each (the process and any ``--workers`` children). Targets (issue 12): RSS after
50,000 requests <= 80 MiB, and flat between 10,000 and 50,000 (taken here as growing by at most 2 MiB).
"""

from __future__ import annotations

import tempfile

from harness import Context, Server, bare, load_count, localcore, main_for, rss_mb, running, sign_up
from report import Figure, at_most

NAME = "memory"
ENV = {"LOCALCORE_RATE_LIMITS": "off", "SEND_WELCOME_EMAIL": "false"}
FLAT_MIB = 2.0
RSS_MIB = 80.0


def _rss_after(ctx: Context, server: Server, path: str, headers: dict[str, str]) -> tuple[float, float, float]:
    """(RSS at start, after the first count, after the second) in MiB."""
    first, second = ctx.options.memory_requests
    start = rss_mb(server.pid)
    load_count(ctx.options, server.url + path, first, headers)
    at_first = rss_mb(server.pid)
    load_count(ctx.options, server.url + path, second - first, headers)
    return start, at_first, rss_mb(server.pid)


def run(ctx: Context) -> list[Figure]:
    first, second = ctx.options.memory_requests
    with tempfile.TemporaryDirectory() as data_dir, \
            running(bare(), localcore(data_dir, env=ENV, workers=ctx.options.workers)) as (base, ours):
        cookie = sign_up(ours.url)
        ours_rss = _rss_after(ctx, ours, "/api/v1/me", {"Cookie": cookie})
        bare_rss = _rss_after(ctx, base, "/health", {})
    return [
        Figure(NAME, f"RSS after {second:,} GET /api/v1/me (SQLite)", ours_rss[2], "MiB",
               f"bare aiohttp handler after {second:,} requests", bare_rss[2],
               target=at_most(RSS_MIB, f"≤ {RSS_MIB:g} MiB"),
               note=f"RSS at start {ours_rss[0]:.1f} MiB (bare {bare_rss[0]:.1f})"),
        Figure(NAME, f"RSS growth {first:,} → {second:,} requests", ours_rss[2] - ours_rss[1], "MiB",
               "bare aiohttp handler's growth", bare_rss[2] - bare_rss[1],
               target=at_most(FLAT_MIB, f"flat (≤ {FLAT_MIB:g} MiB)"),
               note=f"{ours_rss[1]:.1f} → {ours_rss[2]:.1f} MiB (bare {bare_rss[1]:.1f} → {bare_rss[2]:.1f})"),
    ]


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
