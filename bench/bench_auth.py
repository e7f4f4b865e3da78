"""Sign-in throughput and event-loop health during a sign-in burst (hashing must never stall the event loop).

    python bench/bench_auth.py [--seconds 10] [--clients 16] [--users 4]

Starts ``python -m localcore`` on a fresh SQLite data dir (rate limits off), signs up ``--users`` users,
then runs ``--clients`` concurrent clients doing ``POST /auth/sign-in/email`` back to back while a probe
sends ``GET /health`` every 20 ms. Every sign-in costs one argon2id verification (19 MiB, t=2) in the
server's password pool; the event loop must keep answering: target p99 of ``/health`` < 50 ms.
Also prints the probe's latency with the server idle, for comparison. Figures are printed, not asserted.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import statistics
import tempfile
import time
import urllib.request

import aiohttp
from harness import free_port, localcore_command, server

PASSWORD = "correct-horse-battery-staple"
PROBE_INTERVAL = 0.02
TARGET_P99_MS = 50.0


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


def sign_up(base: str, email: str) -> None:
    body = json.dumps({"name": "Bench", "email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(base + "/auth/sign-up/email", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=30) as response:
        assert response.status == 200


async def probe(session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            assert response.status == 200
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def signer(base: str, email: str, stop: asyncio.Event, latencies: list[float], failures: list[int]) -> None:
    # One connection per client, no cookie jar: every request is a fresh sign-in.
    async with aiohttp.ClientSession(cookie_jar=aiohttp.DummyCookieJar()) as session:
        while not stop.is_set():
            started = time.perf_counter()
            async with session.post(base + "/auth/sign-in/email",
                                    json={"email": email, "password": PASSWORD}) as response:
                await response.read()
                if response.status != 200:
                    failures.append(response.status)
                    continue
            latencies.append((time.perf_counter() - started) * 1000)


async def run(base: str, args: argparse.Namespace) -> None:
    emails = [f"bench{i}@example.com" for i in range(args.users)]
    async with aiohttp.ClientSession() as probe_session:
        stop = asyncio.Event()
        idle_task = asyncio.create_task(probe(probe_session, base + "/health", stop))
        await asyncio.sleep(2)
        stop.set()
        idle = await idle_task

        stop = asyncio.Event()
        sign_ins: list[float] = []
        failures: list[int] = []
        probe_task = asyncio.create_task(probe(probe_session, base + "/health", stop))
        started = time.perf_counter()
        workers = [asyncio.create_task(signer(base, emails[i % len(emails)], stop, sign_ins, failures))
                   for i in range(args.clients)]
        await asyncio.sleep(args.seconds)
        stop.set()
        await asyncio.gather(*workers)
        elapsed = time.perf_counter() - started
        busy = await probe_task

    rate = len(sign_ins) / elapsed
    print(f"sign-ins: {len(sign_ins)} in {elapsed:.1f} s = {rate:.1f}/s with {args.clients} clients "
          f"(p50 {percentile(sign_ins, 0.5):.0f} ms, p99 {percentile(sign_ins, 0.99):.0f} ms)"
          + (f", {len(failures)} failed: {sorted(set(failures))}" if failures else ""))
    print(f"GET /health idle:            n={len(idle):4d}  p50 {percentile(idle, 0.5):6.2f} ms  "
          f"p99 {percentile(idle, 0.99):6.2f} ms  max {max(idle):6.2f} ms")
    p99 = percentile(busy, 0.99)
    print(f"GET /health during sign-ins: n={len(busy):4d}  p50 {percentile(busy, 0.5):6.2f} ms  "
          f"p99 {p99:6.2f} ms  max {max(busy):6.2f} ms  mean {statistics.fmean(busy):6.2f} ms")
    verdict = "OK" if p99 < TARGET_P99_MS else "MISSED"
    print(f"target: /health p99 < {TARGET_P99_MS:.0f} ms while signing in -> {verdict}")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--seconds", type=float, default=10)
    parser.add_argument("--clients", type=int, default=16)
    parser.add_argument("--users", type=int, default=4)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        env = {"LOCALCORE_RATE_LIMITS": "off", "SEND_WELCOME_EMAIL": "false"}
        with server(localcore_command(port, data_dir), port, env=env) as base:
            for i in range(args.users):
                sign_up(base, f"bench{i}@example.com")
            asyncio.run(run(base, args))


if __name__ == "__main__":
    main()
