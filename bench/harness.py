"""Shared benchmark plumbing: options, server subprocesses, load generation, Postgres, alternating rounds.

Load comes from ``wrk`` when installed (a C load generator, so the client is not the bottleneck), else
from an aiohttp client in a separate process (``pyload.py``). Figures are returned as ``report.Figure``,
never asserted: compare the ratio against a baseline measured in the same run on the same machine.
Subjects and baselines are loaded in alternating rounds and the median is kept, so a burst of other work
on a shared machine hits both sides instead of one.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import os
import re
import shutil
import signal
import socket
import statistics
import subprocess
import sys
import tempfile
import time
import urllib.request
import uuid
from collections.abc import Callable, Iterator, Sequence
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import IO, Any, Literal
from urllib.parse import urlsplit, urlunsplit

from report import Figure, render, to_json

from localcore.testing.pgcluster import PostgresUnavailable as PostgresUnavailable  # re-exported
from localcore.testing.pgcluster import ThrowawayCluster

ROOT = Path(__file__).resolve().parents[1]
BENCH = ROOT / "bench"
PASSWORD = "correct-horse-battery-staple"
NO_POSTGRES = "no Postgres: install the server binaries (initdb, pg_ctl) or set LOCALCORE_TEST_POSTGRES_URL"


class BenchError(RuntimeError):
    """A benchmark could not produce a valid figure (a server did not start, a route answered non-2xx, …)."""


# --------------------------------------------------------------------------- options and context


@dataclass(frozen=True)
class Options:
    smoke: bool = False
    seconds: int = 5  # per load, per round
    rounds: int = 3
    connections: int = 32
    warmup: int = 1  # seconds of discarded load per subject before the first round
    client: Literal["auto", "wrk", "python"] = "auto"
    workers: int = 1  # localcore --workers for the HTTP benchmarks
    starts: int = 5  # start-up samples
    memory_requests: tuple[int, int] = (10_000, 50_000)
    signin_clients: int = 16
    signin_users: int = 4
    idle_probe_seconds: float = 2.0
    ledger_rows: int = 1_000_000
    ledger_cycles: int = 500
    ledger_samples: int = 200
    ledger_backends: tuple[str, ...] = ("memory", "sqlite", "postgres")
    postgres_url: str | None = None
    skip_postgres: bool = False


SMOKE = Options(smoke=True, seconds=1, rounds=1, warmup=0, starts=1, memory_requests=(200, 1_000),
                signin_clients=8, signin_users=2, idle_probe_seconds=0.5, ledger_rows=1_000, ledger_cycles=20,
                ledger_samples=20)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    """The options every benchmark (and the runner) accepts."""
    parser.add_argument("--smoke", action="store_true",
                        help="tiny counts and durations (checks that the benchmark runs; figures mean nothing)")
    parser.add_argument("--markdown", action="store_true", help="print the table as Markdown")
    parser.add_argument("--json", metavar="PATH", help="also write the figures as JSON to PATH")
    parser.add_argument("--seconds", type=int, help="seconds per load round (default 5; smoke 1)")
    parser.add_argument("--rounds", type=int, help="alternating rounds, median kept (default 3; smoke 1)")
    parser.add_argument("--connections", type=int, help="concurrent connections (default 32)")
    parser.add_argument("--client", choices=["auto", "wrk", "python"], default="auto",
                        help="load generator: wrk when installed (auto), or the Python one")
    parser.add_argument("--workers", type=int, help="localcore --workers for the HTTP benchmarks (default 1)")
    parser.add_argument("--rows", type=int, help="ledger rows for the big-ledger figures (default 1,000,000)")
    parser.add_argument("--postgres-url", help="admin URL of a Postgres server where scratch databases may be "
                        "created (default LOCALCORE_TEST_POSTGRES_URL, else a throwaway cluster)")
    parser.add_argument("--skip-postgres", action="store_true", help="leave out the Postgres rows")


def options_from(args: argparse.Namespace) -> Options:
    base = SMOKE if args.smoke else Options()
    changes: dict[str, Any] = {"client": args.client, "skip_postgres": args.skip_postgres,
                               "postgres_url": args.postgres_url}
    for name, key in (("seconds", "seconds"), ("rounds", "rounds"), ("connections", "connections"),
                      ("workers", "workers"), ("rows", "ledger_rows")):
        value = getattr(args, name)
        if value is not None:
            changes[key] = value
    return replace(base, **changes)


class Context:
    """Options plus what benchmarks share within one run: one Postgres server (started on first use)."""

    def __init__(self, options: Options) -> None:
        self.options = options
        self._cluster: ThrowawayCluster | None = None
        self._admin: str | None = None
        self._unavailable: str | None = None

    def __enter__(self) -> Context:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def postgres_admin(self) -> str:
        """A Postgres URL where scratch databases may be created; raises ``PostgresUnavailable``."""
        if self.options.skip_postgres:
            raise PostgresUnavailable("Postgres left out (--skip-postgres)")
        if self._admin:
            return self._admin
        if self._unavailable:
            raise PostgresUnavailable(self._unavailable)
        url = self.options.postgres_url or os.environ.get("LOCALCORE_TEST_POSTGRES_URL")
        if url:
            self._admin = url
            return url
        try:
            cluster = ThrowawayCluster()
        except PostgresUnavailable:
            self._unavailable = NO_POSTGRES
            raise PostgresUnavailable(NO_POSTGRES) from None
        self._admin = cluster.start()
        self._cluster = cluster
        return self._admin

    @contextlib.contextmanager
    def postgres_database(self) -> Iterator[str]:
        """A fresh scratch database on the Postgres server, dropped afterwards."""
        admin = self.postgres_admin()
        url, name = asyncio.run(create_database(admin))
        try:
            yield url
        finally:
            asyncio.run(drop_database(admin, name))

    def close(self) -> None:
        if self._cluster is not None:
            self._cluster.stop()
            self._cluster = None
            self._admin = None


async def create_database(admin_url: str) -> tuple[str, str]:
    import asyncpg

    name = f"lc_bench_{uuid.uuid4().hex[:10]}"
    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'CREATE DATABASE "{name}"')
    finally:
        await conn.close()
    return urlunsplit(urlsplit(admin_url)._replace(path=f"/{name}")), name


async def drop_database(admin_url: str, name: str) -> None:
    import asyncpg

    conn = await asyncpg.connect(admin_url)
    try:
        await conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    finally:
        await conn.close()


# --------------------------------------------------------------------------- servers


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def rss_mb(pid: int) -> float:
    """Resident memory of a process and its children (``--workers``), in MiB, from /proc."""
    total = 0
    pids = [pid]
    with contextlib.suppress(OSError):
        children = Path(f"/proc/{pid}/task/{pid}/children").read_text().split()
        pids += [int(c) for c in children]
    for one in pids:
        with contextlib.suppress(OSError):
            for line in Path(f"/proc/{one}/status").read_text().splitlines():
                if line.startswith("VmRSS:"):
                    total += int(line.split()[1])
    return total / 1024


#: What a server subprocess inherits from the caller's environment (the rest could configure localcore).
INHERITED = frozenset({"PATH", "HOME", "LANG", "TMPDIR", "VIRTUAL_ENV", "PYTHONPATH", "SYSTEMROOT"})


class Server:
    """A server subprocess: ``start()`` returns at once, ``wait_healthy()`` blocks until ``health`` answers 200."""

    def __init__(self, command: Sequence[str], port: int, env: dict[str, str] | None = None,
                 health: str = "/health") -> None:
        self.command = list(command)
        self.port = port
        # The default configuration: nothing from the caller's environment that could configure localcore.
        inherited = {k: v for k, v in os.environ.items() if k in INHERITED or k.startswith("LC_")}
        self.env = {**inherited, "LOCALCORE_KEYRING": "null", "PYTHONUNBUFFERED": "1", **(env or {})}
        self.health = health
        self.url = f"http://127.0.0.1:{port}"
        self.proc: subprocess.Popen[bytes] | None = None
        self.started = 0.0
        # Not a pipe: nobody reads it while the server runs, and a full pipe would stall it mid-run.
        self._log: IO[bytes] = tempfile.TemporaryFile()  # noqa: SIM115 - closed by stop()

    @property
    def pid(self) -> int:
        assert self.proc is not None
        return self.proc.pid

    def start(self) -> Server:
        self.started = time.perf_counter()
        self.proc = subprocess.Popen(self.command, env=self.env, cwd=tempfile.gettempdir(),
                                     stdout=self._log, stderr=subprocess.STDOUT)
        return self

    def log_tail(self, lines: int = 15) -> str:
        self._log.seek(0)
        return "\n".join(self._log.read().decode(errors="replace").splitlines()[-lines:])

    def wait_healthy(self, timeout: float = 60.0, interval: float = 0.02) -> float:
        """Seconds from ``start()`` to the first 200 from ``health``."""
        assert self.proc is not None
        while True:
            try:
                with urllib.request.urlopen(self.url + self.health, timeout=2):
                    return time.perf_counter() - self.started
            except OSError:
                if self.proc.poll() is not None:
                    raise BenchError(f"{' '.join(self.command)} exited with {self.proc.returncode}:\n"
                                     f"{self.log_tail()}") from None
                if time.perf_counter() - self.started > timeout:
                    raise BenchError(f"{' '.join(self.command)} not healthy after {timeout:.0f} s:\n"
                                     f"{self.log_tail()}") from None
                time.sleep(interval)

    def stop(self) -> None:
        if self.proc is not None and self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait()
        self._log.close()


@contextlib.contextmanager
def running(*servers: Server) -> Iterator[tuple[Server, ...]]:
    """Start every server at once (they start in parallel), wait until all are healthy, stop them after."""
    try:
        for one in servers:
            one.start()
        for one in servers:
            one.wait_healthy()
        yield servers
    finally:
        for one in servers:
            one.stop()


def localcore_command(port: int, data_dir: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "localcore", "serve", "--port", str(port), "--data-dir", data_dir,
            "--no-bootstrap", *extra]


def localcore(data_dir: str, *extra: str, env: dict[str, str] | None = None, workers: int = 1) -> Server:
    port = free_port()
    if workers > 1:
        extra = (*extra, "--workers", str(workers))
    return Server(localcore_command(port, data_dir, *extra), port, env=env)


def bare(postgres_dsn: str | None = None) -> Server:
    """The baseline server (``bare_server.py``): a bare JSON handler, or one indexed asyncpg SELECT."""
    port = free_port()
    command = [sys.executable, str(BENCH / "bare_server.py"), str(port)]
    if postgres_dsn:
        command += ["--postgres", postgres_dsn]
    return Server(command, port)


def sign_up(base: str, email: str = "bench@example.com") -> str:
    """Sign a new user up; returns the session cookie as a ``Cookie`` header value."""
    body = json.dumps({"name": "Bench", "email": email, "password": PASSWORD}).encode()
    request = urllib.request.Request(base + "/auth/sign-up/email", data=body, method="POST",
                                     headers={"Content-Type": "application/json"})
    with urllib.request.urlopen(request, timeout=60) as response:
        cookies = [value.split(";", 1)[0] for value in response.headers.get_all("Set-Cookie") or []]
    if not cookies:
        raise BenchError("sign-up answered without a session cookie")
    return "; ".join(cookies)


# --------------------------------------------------------------------------- load


@dataclass
class Result:
    requests_per_second: float
    p50_ms: float
    p99_ms: float
    requests: int
    client: str
    socket_errors: int = 0


def _ms(text: str, output: str) -> float:
    """wrk's latency (``812.00us``, ``12.34ms``, ``1.02s``, ``1.50m``) in milliseconds."""
    match = re.fullmatch(r"([\d.]+)(us|ms|s|m)", text)
    if not match:
        raise BenchError(f"unexpected wrk latency {text!r}:\n{output}")
    scale = {"us": 0.001, "ms": 1.0, "s": 1000.0, "m": 60_000.0}[match.group(2)]
    return float(match.group(1)) * scale


def _search(pattern: str, text: str) -> str:
    match = re.search(pattern, text)
    if not match:
        raise BenchError(f"unexpected wrk output (no {pattern!r}):\n{text}")
    return match.group(1)


def use_wrk(options: Options) -> bool:
    if options.client == "python":
        return False
    found = shutil.which("wrk") is not None
    if options.client == "wrk" and not found:
        raise BenchError("--client wrk: wrk is not installed (apt-get install wrk)")
    return found


def load(options: Options, url: str, *, seconds: int | None = None, headers: dict[str, str] | None = None,
         threads: int = 1) -> Result:
    """GET ``url`` from ``options.connections`` connections for ``seconds``; ``threads=1`` leaves the other
    core to the server. Any non-2xx answer is an error: a figure for a failing route is no figure."""
    seconds = seconds or options.seconds
    headers = headers or {}
    if not use_wrk(options):
        return _pyload(url, headers, options.connections, seconds=seconds)
    command = ["wrk", f"-t{threads}", f"-c{options.connections}", f"-d{seconds}s", "--latency"]
    for key, value in headers.items():
        command += ["-H", f"{key}: {value}"]
    out = subprocess.run([*command, url], capture_output=True, text=True, check=True, timeout=seconds + 60).stdout
    non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
    if non2xx:
        raise BenchError(f"GET {url}: {non2xx.group(1)} non-2xx responses")
    socket_errors = re.search(r"Socket errors: connect (\d+), read (\d+), write (\d+), timeout (\d+)", out)
    # Anchored: the Thread Stats lines end in percentages too ("+/- Stdev 61.99%").
    return Result(float(_search(r"Requests/sec:\s+([\d.]+)", out)), _ms(_search(r"(?m)^\s*50%\s+(\S+)", out), out),
                  _ms(_search(r"(?m)^\s*99%\s+(\S+)", out), out), int(_search(r"(\d+) requests in", out)), "wrk",
                  sum(int(n) for n in socket_errors.groups()) if socket_errors else 0)


def load_count(options: Options, url: str, requests: int, headers: dict[str, str] | None = None) -> Result:
    """Exactly ``requests`` GETs (the Python load generator: wrk cannot stop at a count)."""
    return _pyload(url, headers or {}, options.connections, requests=requests)


def _pyload(url: str, headers: dict[str, str], connections: int, *, seconds: float | None = None,
            requests: int | None = None) -> Result:
    command = [sys.executable, str(BENCH / "pyload.py"), url, "--connections", str(connections)]
    command += ["--seconds", str(seconds)] if seconds is not None else ["--requests", str(requests)]
    for key, value in headers.items():
        command += ["--header", f"{key}: {value}"]
    done = subprocess.run(command, capture_output=True, text=True, timeout=(seconds or 0) + 600)
    if done.returncode != 0:
        raise BenchError(f"pyload failed:\n{done.stderr[-2000:]}")
    data = json.loads(done.stdout)
    if data["errors"]:
        raise BenchError(f"GET {url}: {data['errors']} non-2xx responses (first: {data['first_error']})")
    return Result(data["rps"], data["p50_ms"], data["p99_ms"], data["requests"], "python")


# --------------------------------------------------------------------------- alternating rounds


@dataclass
class Measured:
    """The median of several rounds for one subject."""

    results: list[Result] = field(default_factory=list)

    @property
    def rps(self) -> float:
        return statistics.median(r.requests_per_second for r in self.results)

    @property
    def p50(self) -> float:
        return statistics.median(r.p50_ms for r in self.results)

    @property
    def p99(self) -> float:
        return statistics.median(r.p99_ms for r in self.results)

    def note(self) -> str:
        rates = [r.requests_per_second for r in self.results]
        spread = (f"median of {len(rates)} rounds ({min(rates):,.0f}-{max(rates):,.0f} req/s)" if len(rates) > 1
                  else "1 round")
        errors = sum(r.socket_errors for r in self.results)
        client = self.results[0].client if self.results else "?"
        return (f"{spread}, p50 {self.p50:.2f} ms, p99 {self.p99:.2f} ms, {client}"
                + (f", {errors} socket errors" if errors else ""))


@dataclass(frozen=True)
class Subject:
    key: str
    url: str
    headers: dict[str, str] = field(default_factory=dict)


def alternate(options: Options, subjects: Sequence[Subject]) -> dict[str, Measured]:
    """Load every subject in turn, ``options.rounds`` times (after a discarded warm-up), medians kept."""
    if options.warmup:
        for subject in subjects:
            load(options, subject.url, seconds=options.warmup, headers=subject.headers)
    measured = {subject.key: Measured() for subject in subjects}
    for _ in range(options.rounds):
        for subject in subjects:
            measured[subject.key].results.append(load(options, subject.url, headers=subject.headers))
    return measured


# --------------------------------------------------------------------------- one benchmark's own main()


def main_for(doc: str | None, run: Callable[[Context], list[Figure]]) -> None:
    """``main()`` of one benchmark module: the runner's options, this benchmark's rows, the same table."""
    parser = argparse.ArgumentParser(description=(doc or "").split("\n\n")[0])
    add_arguments(parser)
    args = parser.parse_args()
    with Context(options_from(args)) as ctx:
        figures = run(ctx)
    print(render(figures, markdown=args.markdown))
    if args.json:
        Path(args.json).write_text(to_json(figures, smoke=ctx.options.smoke))
