"""``GET /health`` on localcore (SQLite, default config) against a bare aiohttp handler, same run.

    python bench/bench_health.py [--seconds 8] [--connections 32]

Prints requests/s and latency for both and the ratio (localcore / bare) — the figure to watch. Also
reports how long ``python -m localcore`` takes from exec to a healthy ``/health``.
"""

from __future__ import annotations

import argparse
import sys
import tempfile

from harness import ROOT, free_port, load, localcore_command, server


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    args = parser.parse_args()

    port = free_port()
    with server([sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port)], port) as url:
        bare = load("bare aiohttp handler", url + "/health", seconds=args.seconds, connections=args.connections)
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        import time

        started = time.monotonic()
        with server(localcore_command(port, data_dir), port) as url:
            startup = time.monotonic() - started
            ours = load("localcore GET /health (sqlite)", url + "/health", seconds=args.seconds,
                        connections=args.connections)
    print(bare.line())
    print(ours.line())
    print(f"ratio localcore/bare: {ours.requests_per_second / bare.requests_per_second:.2f} "
          f"(target >= 0.5)")
    print(f"start-up to healthy (fresh data dir, includes migrations): {startup:.2f} s (target <= 1.0 s)")


if __name__ == "__main__":
    main()
