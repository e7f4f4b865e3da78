"""Shared benchmark plumbing: start a server subprocess, load it, report requests/s and latency.

Load comes from ``wrk`` when installed (a C load generator, so the client is not the bottleneck), else
from an aiohttp client in a separate process. Figures are printed, never asserted: compare the ratio
against a baseline measured in the same run on the same machine.
"""

from __future__ import annotations

import contextlib
import os
import re
import shutil
import signal
import socket
import subprocess
import sys
import tempfile
import time
import urllib.request
from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


@dataclass
class Result:
    name: str
    requests_per_second: float
    p50_ms: float
    p99_ms: float

    def line(self) -> str:
        return (f"{self.name:<38} {self.requests_per_second:>9.0f} req/s   p50 {self.p50_ms:>7.2f} ms"
                f"   p99 {self.p99_ms:>7.2f} ms")


def wait_healthy(url: str, timeout: float = 30.0) -> float:
    started = time.monotonic()
    while True:
        try:
            with urllib.request.urlopen(url, timeout=1):
                return time.monotonic() - started
        except OSError:
            if time.monotonic() - started > timeout:
                raise
            time.sleep(0.02)


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


LAST_PID: list[int] = []


@contextlib.contextmanager
def server(command: Sequence[str], port: int, env: dict[str, str] | None = None,
           health: str = "/health") -> Iterator[str]:
    base = f"http://127.0.0.1:{port}"
    full_env = {**os.environ, "LOCALCORE_KEYRING": "null", "PYTHONUNBUFFERED": "1", **(env or {})}
    proc = subprocess.Popen(list(command), env=full_env, cwd=tempfile.gettempdir(),
                            # Not a pipe: nobody reads it, and a full pipe would stall the server mid-run.
                            stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)
    LAST_PID[:] = [proc.pid]
    try:
        wait_healthy(base + health)
        yield base
    finally:
        proc.send_signal(signal.SIGTERM)
        try:
            proc.wait(timeout=40)
        except subprocess.TimeoutExpired:
            proc.kill()


def localcore_command(port: int, data_dir: str, *extra: str) -> list[str]:
    return [sys.executable, "-m", "localcore", "serve", "--port", str(port), "--data-dir", data_dir,
            "--no-bootstrap", *extra]


def _ms(text: str) -> float:
    match = re.match(r"([\d.]+)(us|ms|s)", text)
    if not match:
        return float("nan")
    value, unit = float(match.group(1)), match.group(2)
    return value / 1000 if unit == "us" else value * 1000 if unit == "s" else value


def load(name: str, url: str, *, seconds: int = 8, connections: int = 32, headers: dict[str, str] | None = None,
         threads: int = 1) -> Result:
    """Hammer ``url`` with GETs; ``threads=1`` leaves the other core to the server."""
    if shutil.which("wrk"):
        command = ["wrk", f"-t{threads}", f"-c{connections}", f"-d{seconds}s", "--latency"]
        for key, value in (headers or {}).items():
            command += ["-H", f"{key}: {value}"]
        out = subprocess.run([*command, url], capture_output=True, text=True, check=True).stdout
        rps = float(re.search(r"Requests/sec:\s+([\d.]+)", out).group(1))  # type: ignore[union-attr]
        p50 = _ms(re.search(r"50%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
        p99 = _ms(re.search(r"99%\s+(\S+)", out).group(1))  # type: ignore[union-attr]
        non2xx = re.search(r"Non-2xx or 3xx responses:\s+(\d+)", out)
        if non2xx:
            name += f" ({non2xx.group(1)} non-2xx!)"
        return Result(name, rps, p50, p99)
    return _python_load(name, url, seconds=seconds, connections=connections, headers=headers or {})


def _python_load(name: str, url: str, *, seconds: int, connections: int, headers: dict[str, str]) -> Result:
    script = ROOT / "bench" / "pyload.py"
    out = subprocess.run([sys.executable, str(script), url, str(seconds), str(connections),
                          *[f"{k}: {v}" for k, v in headers.items()]], capture_output=True, text=True, check=True)
    rps, p50, p99 = (float(x) for x in out.stdout.split())
    return Result(name + " [python client]", rps, p50, p99)
