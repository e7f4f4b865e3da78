"""Fallback load generator (when wrk is absent): N concurrent aiohttp clients for S seconds."""

from __future__ import annotations

import asyncio
import sys
import time

import aiohttp


async def main(url: str, seconds: float, connections: int, headers: dict[str, str]) -> None:
    latencies: list[float] = []
    deadline = time.perf_counter() + seconds

    async def worker(session: aiohttp.ClientSession) -> None:
        while time.perf_counter() < deadline:
            started = time.perf_counter()
            async with session.get(url, headers=headers) as response:
                await response.read()
            latencies.append(time.perf_counter() - started)

    connector = aiohttp.TCPConnector(limit=connections)
    async with aiohttp.ClientSession(connector=connector) as session:
        began = time.perf_counter()
        await asyncio.gather(*(worker(session) for _ in range(connections)))
        elapsed = time.perf_counter() - began
    latencies.sort()
    p50 = latencies[len(latencies) // 2] * 1000
    p99 = latencies[int(len(latencies) * 0.99)] * 1000
    print(len(latencies) / elapsed, p50, p99)


if __name__ == "__main__":
    extra = dict(h.split(": ", 1) for h in sys.argv[4:])
    asyncio.run(main(sys.argv[1], float(sys.argv[2]), int(sys.argv[3]), extra))
