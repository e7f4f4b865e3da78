"""Sign-in throughput against raw argon2id verification on the same thread pool, and event-loop health during
a sign-in burst (hashing must never stall the event loop).

    python bench/bench_auth.py [--smoke] [--seconds 5] [--rounds 3] [--markdown]

Starts ``python -m localcore`` on a fresh SQLite data dir (rate limits off) and signs a few users up. Then, in
alternating rounds:

- baseline: localcore's own ``PasswordHasher`` (same argon2id parameters, same thread-pool size) verifying
  one stored hash from as many concurrent tasks as there are sign-in clients, in this process, no HTTP;
- subject: that many clients doing ``POST /auth/sign-in/email`` back to back (one argon2id verification
  each), while a probe sends ``GET /health`` every 20 ms.

Targets: sign-ins/s >= 0.8x the raw verifications/s (issue 12); ``/health`` p99 during the burst < 50 ms
(this benchmark's own), next to the probe's p99 with the server idle.
"""

from __future__ import annotations

import asyncio
import tempfile
import time

import aiohttp
from harness import PASSWORD, BenchError, Context, Options, localcore, main_for, running, sign_up
from report import Figure, at_least, below

from localcore.auth.passwords import PasswordHasher

NAME = "auth"
PROBE_INTERVAL = 0.02
ENV = {"LOCALCORE_RATE_LIMITS": "off", "SEND_WELCOME_EMAIL": "false"}


def percentile(values: list[float], q: float) -> float:
    if not values:
        return float("nan")
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(q * (len(ordered) - 1)))]


async def probe(session: aiohttp.ClientSession, url: str, stop: asyncio.Event) -> list[float]:
    latencies: list[float] = []
    while not stop.is_set():
        started = time.perf_counter()
        async with session.get(url) as response:
            await response.read()
            if response.status != 200:
                raise BenchError(f"GET /health answered {response.status} during the sign-in burst")
        latencies.append((time.perf_counter() - started) * 1000)
        await asyncio.sleep(PROBE_INTERVAL)
    return latencies


async def signer(base: str, email: str, stop: asyncio.Event, done: list[float], failures: list[int]) -> None:
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
            done.append((time.perf_counter() - started) * 1000)


async def raw_verify(hasher: PasswordHasher, stored: str, options: Options) -> float:
    """Verifications per second from ``signin_clients`` concurrent tasks on the hasher's pool."""
    stop = asyncio.Event()
    count = [0]

    async def verifier() -> None:
        while not stop.is_set():
            result = await hasher.verify(stored, PASSWORD)
            assert result.ok
            count[0] += 1

    started = time.perf_counter()
    tasks = [asyncio.create_task(verifier()) for _ in range(options.signin_clients)]
    await asyncio.sleep(options.seconds)
    stop.set()
    await asyncio.gather(*tasks)
    return count[0] / (time.perf_counter() - started)


async def sign_in_burst(base: str, emails: list[str], options: Options,
                        probe_session: aiohttp.ClientSession) -> tuple[float, list[float], list[float]]:
    stop = asyncio.Event()
    done: list[float] = []
    failures: list[int] = []
    probe_task = asyncio.create_task(probe(probe_session, base + "/health", stop))
    started = time.perf_counter()
    workers = [asyncio.create_task(signer(base, emails[i % len(emails)], stop, done, failures))
               for i in range(options.signin_clients)]
    await asyncio.sleep(options.seconds)
    stop.set()
    await asyncio.gather(*workers)
    elapsed = time.perf_counter() - started
    busy = await probe_task
    if failures:
        raise BenchError(f"{len(failures)} sign-ins failed: {sorted(set(failures))}")
    return len(done) / elapsed, done, busy


async def measure(base: str, emails: list[str], options: Options) -> list[Figure]:
    hasher = PasswordHasher()
    pool_size = hasher._pool._max_workers
    try:
        stored = await hasher.hash(PASSWORD)
        async with aiohttp.ClientSession() as probe_session:
            stop = asyncio.Event()
            idle_task = asyncio.create_task(probe(probe_session, base + "/health", stop))
            await asyncio.sleep(options.idle_probe_seconds)
            stop.set()
            idle = await idle_task
            raw_rates: list[float] = []
            rates: list[float] = []
            latencies: list[float] = []
            busy: list[float] = []
            for _ in range(options.rounds):
                raw_rates.append(await raw_verify(hasher, stored, options))
                rate, done, probed = await sign_in_burst(base, emails, options, probe_session)
                rates.append(rate)
                latencies += done
                busy += probed
    finally:
        hasher.close()
    rate, raw = sorted(rates)[len(rates) // 2], sorted(raw_rates)[len(raw_rates) // 2]
    spread = f"median of {len(rates)} rounds ({min(rates):.1f}-{max(rates):.1f}/s), " if len(rates) > 1 else ""
    return [
        Figure(NAME, f"sign-ins/s, {options.signin_clients} clients (POST /auth/sign-in/email)", rate, "/s",
               f"argon2id verify/s, same pool ({pool_size} threads), no HTTP", raw,
               target=at_least(0.8, "≥ 0.8x raw verify"),
               note=f"{spread}sign-in p50 {percentile(latencies, 0.5):.0f} ms, "
                    f"p99 {percentile(latencies, 0.99):.0f} ms"),
        Figure(NAME, "GET /health p99 during the sign-in burst", percentile(busy, 0.99), "ms",
               "GET /health p99, server idle", percentile(idle, 0.99), target=below(50, "< 50 ms"),
               note=f"probe every {PROBE_INTERVAL * 1000:.0f} ms: n={len(busy)} busy, {len(idle)} idle; "
                    f"max {max(busy, default=float('nan')):.1f} ms"),
    ]


def run(ctx: Context) -> list[Figure]:
    options = ctx.options
    emails = [f"bench{i}@example.com" for i in range(options.signin_users)]
    with tempfile.TemporaryDirectory() as data_dir, running(localcore(data_dir, env=ENV)) as (server,):
        for email in emails:
            sign_up(server.url, email)
        return asyncio.run(measure(server.url, emails, options))


def main() -> None:
    main_for(__doc__, run)


if __name__ == "__main__":
    main()
