"""Python load generator: N concurrent aiohttp clients, for S seconds or for exactly R requests.

    python bench/pyload.py URL (--seconds S | --requests R) [--connections N] [--header "Name: value"]...

Used when wrk is absent, and for fixed request counts (wrk cannot stop at a count). Prints one JSON object:
requests, seconds, rps, p50_ms, p99_ms, errors (non-2xx answers) and the first error's status.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import time

import aiohttp


async def run(url: str, *, seconds: float | None, requests: int | None, connections: int,
              headers: dict[str, str]) -> dict[str, object]:
    latencies: list[float] = []
    errors: list[int] = []
    deadline = time.perf_counter() + seconds if seconds is not None else float("inf")
    remaining = [requests if requests is not None else -1]

    def more() -> bool:
        if time.perf_counter() >= deadline:
            return False
        if remaining[0] < 0:
            return True
        if remaining[0] == 0:
            return False
        remaining[0] -= 1
        return True

    async def worker(session: aiohttp.ClientSession) -> None:
        while more():
            started = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
                if not 200 <= response.status < 300:
                    errors.append(response.status)
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector, cookie_jar=aiohttp.DummyCookieJar()) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    count = len(latencies)
    return {
        "requests": count,
        "seconds": elapsed,
        "rps": count / elapsed if elapsed else 0.0,
        "p50_ms": latencies[count // 2] * 1000 if count else float("nan"),
        "p99_ms": latencies[min(count - 1, int(count * 0.99))] * 1000 if count else float("nan"),
        "errors": len(errors),
        "first_error": errors[0] if errors else None,
    }


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("url")
    group = parser.add_mutually_exclusive_group(required=True)
    group.add_argument("--seconds", type=float)
    group.add_argument("--requests", type=int)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--header", action="append", default=[])
    args = parser.parse_args()
    headers = dict(h.split(": ", 1) for h in args.header)
    print(json.dumps(asyncio.run(run(args.url, seconds=args.seconds, requests=args.requests,
                                     connections=args.connections, headers=headers))))


if __name__ == "__main__":
    main()
