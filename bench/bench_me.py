"""Authenticated ``GET /api/v1/me`` on SQLite and Postgres, against a bare aiohttp handler, same run.

    python bench/bench_me.py [--seconds 8] [--connections 32] [--skip-postgres] [--workers N]

boring-core 0.1.43 serves ~490 req/s here (p99 ~130 ms); localcore aims at >= 10x on Postgres and at
>= 0.5x a bare aiohttp handler on SQLite. Postgres runs in a throwaway cluster (or
``LOCALCORE_TEST_POSTGRES_URL``).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
import tempfile
import urllib.request

from harness import LAST_PID, ROOT, Result, free_port, load, localcore_command, rss_mb, server

UPSTREAM_RPS = 490.0


def sign_up(base: str) -> str:
    body = json.dumps({"name": "Bench", "email": "bench@example.com",
                       "password": "correct-horse-battery-staple"}).encode()
    request = urllib.request.Request(base + "/auth/sign-up/email", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        cookie: str = response.headers["Set-Cookie"].split(";", 1)[0]
    return cookie


def measure(name: str, database_url: str | None, args: argparse.Namespace) -> Result:
    env = {"LOCALCORE_RATE_LIMITS": "off"}
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        extra = ["--database-url", database_url] if database_url else []
        if args.workers > 1:
            extra += ["--workers", str(args.workers)]
        with server(localcore_command(port, data_dir, *extra), port, env=env) as url:
            cookie = sign_up(url)
            result = load(name, url + "/api/v1/me", seconds=args.seconds, connections=args.connections,
                          headers={"Cookie": cookie})
            result.name += f" [RSS after load {rss_mb(LAST_PID[0]):.0f} MiB]"
            return result


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--seconds", type=int, default=8)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--workers", type=int, default=1)
    parser.add_argument("--skip-postgres", action="store_true")
    args = parser.parse_args()

    port = free_port()
    with server([sys.executable, str(ROOT / "bench" / "bare_server.py"), str(port)], port) as url:
        bare = load("bare aiohttp handler", url + "/health", seconds=args.seconds, connections=args.connections)
    results = [measure("localcore GET /api/v1/me (sqlite)", None, args)]
    if not args.skip_postgres:
        pg_url = os.environ.get("LOCALCORE_TEST_POSTGRES_URL")
        cluster = None
        if not pg_url:
            from localcore.testing.pgcluster import ThrowawayCluster

            cluster = ThrowawayCluster()
            pg_url = cluster.start()
        try:
            results.append(measure("localcore GET /api/v1/me (postgres)", pg_url, args))
        finally:
            if cluster is not None:
                cluster.stop()
    print(bare.line())
    for result in results:
        print(result.line())
        print(f"    vs bare aiohttp: {result.requests_per_second / bare.requests_per_second:.2f}x   "
              f"vs boring-core 0.1.43 (~{UPSTREAM_RPS:.0f} req/s): "
              f"{result.requests_per_second / UPSTREAM_RPS:.1f}x")


if __name__ == "__main__":
    main()
