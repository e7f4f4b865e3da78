"""Where a localcore server's time goes: py-spy samples the server while wrk (or pyload) loads one route, then the
hottest functions are listed by own time and by inclusive time, and the own time summed by package.

    python bench/hotspots.py [--route /api/v1/me] [--postgres] [--seconds 10] [--top 25] [--anonymous]
    python bench/hotspots.py --sign-in      # POST /auth/sign-in/email from 16 clients
    python bench/hotspots.py --startup      # from exec to healthy (imports, migrations, secrets)
    python bench/hotspots.py --imports      # time and RSS of each dependency's import (no py-spy)

Needs py-spy (``pip install py-spy``; not a project dependency). Not part of ``python -m bench``: it is the
tool behind the "where the time goes" notes in bench/RESULTS.md.
"""

from __future__ import annotations

import argparse
import asyncio
import collections
import contextlib
import os
import re
import shutil
import signal
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from dataclasses import replace
from pathlib import Path

from harness import Context, Options, Server, load, localcore, localcore_command, sign_up

ENV = {"LOCALCORE_RATE_LIMITS": "off", "SEND_WELCOME_EMAIL": "false"}
RATE = 250
STARTUP_RATE = 1000
FRAME = re.compile(r"^(?P<func>.*?) \((?P<file>[^:()]+)(?::\d+)?\)$")


def _package(path: str) -> str:
    """``site-packages/aiohttp/web_protocol.py`` -> ``aiohttp``; ``localcore/http/app.py`` -> ``localcore.http``."""
    parts = Path(path).parts
    for anchor in ("site-packages", "dist-packages"):
        if anchor in parts:
            rest = parts[parts.index(anchor) + 1:]
            return rest[0].removesuffix(".py") if rest else path
    for top in ("localcore", "backends"):
        if top in parts:
            rest = parts[parts.index(top):]
            return ".".join(rest[:2]).removesuffix(".py") if len(rest) > 2 else top
    return "python: " + Path(path).name if "python3" in path else path


def summarize(raw: Path, top: int, seconds: float, rate: int) -> str:
    """Per-thread sample counts, then the event loop's (MainThread's) own time by package and by function, and
    its inclusive time by function."""
    threads: collections.Counter[str] = collections.Counter()
    own: collections.Counter[str] = collections.Counter()
    inclusive: collections.Counter[str] = collections.Counter()
    packages: collections.Counter[str] = collections.Counter()
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, count_text = line.rpartition(" ")
        if not stack or not count_text.isdigit():
            continue
        count = int(count_text)
        first, *frames = stack.split(";")
        thread = re.sub(r"^thread \(\d+\): ", "", first)
        threads[thread] += count
        frames = [f for f in frames if FRAME.match(f)]
        if thread != "MainThread" or not frames:
            continue
        total += count
        own[frames[-1]] += count
        match = FRAME.match(frames[-1])
        packages[_package(match.group("file")) if match else "?"] += count
        for frame in set(frames):
            inclusive[frame] += count
    possible = seconds * rate
    lines = ["busy samples by thread (share of the wall-clock samples; 100% = one core):"]
    lines += [f"  {100 * n / possible:5.1f}%  {name}" for name, n in threads.most_common()]
    if not total:
        return "\n".join([*lines, "no MainThread samples"])

    def table(title: str, counter: collections.Counter[str]) -> list[str]:
        rows = [f"{title} (share of the event loop's {total} busy samples)"]
        rows += [f"  {100 * n / total:5.1f}%  {name}" for name, n in counter.most_common(top)]
        return rows

    return "\n".join([*lines, "", *table("own time by package", packages), "",
                      *table("own time by function", own), "", *table("inclusive time by function", inclusive)])


def record(pid: int, seconds: int, out: Path) -> subprocess.Popen[bytes]:
    return subprocess.Popen(["py-spy", "record", "--pid", str(pid), "--duration", str(seconds), "--rate", str(RATE),
                             "--format", "raw", "--output", str(out), "--threads"],
                            stdout=subprocess.DEVNULL, stderr=subprocess.PIPE)


def profile_route(args: argparse.Namespace, out: Path) -> None:
    options = Options(seconds=args.seconds, connections=args.connections)
    with Context(options) as ctx, tempfile.TemporaryDirectory() as data_dir, \
            (ctx.postgres_database() if args.postgres else _no_database()) as database:
        extra = ["--database-url", database] if database else []
        server = localcore(data_dir, *extra, env=ENV).start()
        try:
            server.wait_healthy()
            if args.sign_in:
                sign_up(server.url)
                spy = record(server.pid, args.seconds, out)
                rate = asyncio.run(_sign_ins(server.url, args.seconds))
                print(f"load under py-spy: {rate:.1f} sign-ins/s")
            else:
                headers = {} if args.anonymous else {"Cookie": sign_up(server.url)}
                load(options, server.url + args.route, seconds=1, headers=headers)  # warm up
                spy = record(server.pid, args.seconds, out)
                result = load(options, server.url + args.route, seconds=args.seconds, headers=headers)
                print(f"load under py-spy: {result.requests_per_second:,.0f} req/s, p99 {result.p99_ms:.1f} ms")
            _, err = spy.communicate(timeout=args.seconds + 60)
            if spy.returncode:
                raise SystemExit(f"py-spy failed: {err.decode(errors='replace')}")
        finally:
            server.stop()


async def _sign_ins(base: str, seconds: int) -> float:
    import aiohttp
    from bench_auth import sign_in_burst

    options = replace(Options(), seconds=seconds)
    async with aiohttp.ClientSession() as probe_session:
        rate, _, _ = await sign_in_burst(base, ["bench@example.com"], options, probe_session)
    return rate


#: What ``python -m localcore serve`` imports on SQLite, heaviest dependencies first (asyncpg loads only for a
#: Postgres URL, keyring only when the OS keyring is used).
IMPORTS = ["asyncio", "aiohttp.web", "pydantic", "cryptography.hazmat.primitives.ciphers.aead", "argon2", "jinja2",
           "zxcvbn", "prometheus_client", "aiosqlite", "psutil", "aiosmtplib", "localcore.app", "localcore.cli"]
_IMPORT_PROBE = """
import sys, time
def rss():
    return int(open('/proc/self/status').read().split('VmRSS:')[1].split()[0]) / 1024
print(f"{'':8} {rss():6.1f} MiB  interpreter")
for name in sys.argv[1:]:
    started = time.perf_counter()
    __import__(name)
    print(f"{(time.perf_counter() - started) * 1000:5.0f} ms {rss():6.1f} MiB  + {name}")
"""


def imports() -> None:
    """Cumulative import cost of the server's dependencies in a fresh interpreter: time and resident memory."""
    subprocess.run([sys.executable, "-c", _IMPORT_PROBE, *IMPORTS], check=True, cwd=tempfile.gettempdir())


@contextlib.contextmanager
def _no_database() -> Iterator[str | None]:
    yield None


def profile_startup(out: Path) -> float:
    from harness import free_port

    with tempfile.TemporaryDirectory() as data_dir:
        port = free_port()
        command = ["py-spy", "record", "--rate", str(STARTUP_RATE), "--format", "raw", "--output", str(out),
                   "--threads", "--",
                   *localcore_command(port, data_dir)]
        server = Server(command, port, env=ENV).start()
        try:
            elapsed = server.wait_healthy(interval=0.005)
            print(f"exec to healthy under py-spy: {elapsed:.3f} s (samples run on to the process's exit)")
            # Stop the server, not py-spy: py-spy writes its profile when its child exits.
            children = Path(f"/proc/{server.pid}/task/{server.pid}/children").read_text().split()
            for child in children:
                os.kill(int(child), signal.SIGTERM)
            assert server.proc is not None
            server.proc.wait(timeout=60)
            return elapsed
        finally:
            server.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=(__doc__ or "").split("\n\n")[0])
    parser.add_argument("--route", default="/api/v1/me")
    parser.add_argument("--postgres", action="store_true")
    parser.add_argument("--anonymous", action="store_true", help="no session cookie")
    parser.add_argument("--startup", action="store_true", help="profile exec to healthy instead of a route")
    parser.add_argument("--sign-in", action="store_true", help="POST /auth/sign-in/email from 16 clients")
    parser.add_argument("--imports", action="store_true",
                        help="time and RSS of importing each dependency in turn (no py-spy needed)")
    parser.add_argument("--seconds", type=int, default=10)
    parser.add_argument("--connections", type=int, default=32)
    parser.add_argument("--top", type=int, default=25)
    parser.add_argument("--raw", metavar="PATH", help="keep py-spy's collapsed stacks here")
    args = parser.parse_args()
    if args.imports:
        imports()
        return
    if not shutil.which("py-spy"):
        raise SystemExit("py-spy is not installed (pip install py-spy)")
    with tempfile.TemporaryDirectory() as tmp:
        out = Path(args.raw) if args.raw else Path(tmp) / "profile.txt"
        if args.startup:
            seconds, rate = profile_startup(out), STARTUP_RATE
        else:
            profile_route(args, out)
            seconds, rate = args.seconds, RATE
        print(summarize(out, args.top, seconds, rate))
    sys.stdout.flush()


if __name__ == "__main__":
    main()
