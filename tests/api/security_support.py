"""Helpers for the attack tests (``test_security_*.py``): a second "browser" on the same app, a
configuration without the ``TRUSTED_HOSTS=*`` of ``BASE_ENV``, and ``python -m localcore`` as a real
subprocess whose banner can be read line by line while it runs."""

from __future__ import annotations

import json
import os
import queue
import signal
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Awaitable, Callable, Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from aiohttp.test_utils import TestClient

from localcore import load_config
from localcore.config import Config
from tests.api.auth_support import BASE_ENV, AuthClient

AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]

#: ``BASE_ENV`` without ``TRUSTED_HOSTS=*``, so the Host allow-list is the default one.
ENV_WITHOUT_TRUSTED_HOSTS = {k: v for k, v in BASE_ENV.items() if k != "TRUSTED_HOSTS"}

#: Environment names the CLI reads; a subprocess starts without any of them unless a test sets it.
_CLI_PREFIXES = ("BETTER_AUTH", "DATABASE_URL", "CORE_STORES", "MAIL_", "LOCALCORE_", "PORT", "HOST",
                 "TRUSTED_HOSTS", "TRUST_PROXY", "DEV_MAILBOX", "WORKSPACE_SETTINGS", "APP_", "CORS_ORIGINS",
                 "BORING_CREDITS_", "NODE_ENV", "RATE_LIMIT", "SESSION_", "RESEND_", "GOOGLE_", "GITHUB_")


def config_without_trusted_hosts(**env: str) -> Config:
    return load_config(env={**ENV_WITHOUT_TRUSTED_HOSTS, **env})


async def another_browser(aiohttp_client: AiohttpClient, client: AuthClient) -> AuthClient:
    """A second client (own cookie jar) on the same running app: another browser, or the attacker's."""
    return AuthClient(await aiohttp_client(client.http.server), client.backend, client.clock)


def token_of(path: str) -> str:
    """The ``token`` query parameter of a mailed link (path + query)."""
    return parse_qs(urlsplit(path).query)["token"][0]


def drop_cookie(client: AuthClient, name: str) -> None:
    client.http.session.cookie_jar.clear(lambda morsel: morsel.key == name)


# ----------------------------------------------------------------------------- real subprocesses


def cli_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(_CLI_PREFIXES)}
    env.update({"LOCALCORE_KEYRING": "null", **extra})
    return env


#: The usual umask: without an explicit chmod the server's files come out world-readable (0644/0755).
USUAL_UMASK = 0o022


def run_cli(*args: str, cwd: Path, timeout: float = 60, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localcore", *args], capture_output=True, text=True,
                          env=cli_env(**env), cwd=cwd, timeout=timeout, umask=USUAL_UMASK)


class ServerProcess:
    """``python -m localcore …`` running; ``stdout``/``stderr`` lines are collected as they come."""

    def __init__(self, proc: subprocess.Popen[str]) -> None:
        self.proc = proc
        self.stdout: list[str] = []
        self.stderr: list[str] = []
        self._lines: queue.Queue[str] = queue.Queue()
        self._readers = [threading.Thread(target=self._read, args=(proc.stdout, self.stdout, True), daemon=True),
                         threading.Thread(target=self._read, args=(proc.stderr, self.stderr, False), daemon=True)]
        for reader in self._readers:
            reader.start()
        self.url = ""

    def _read(self, stream: Any, into: list[str], announce: bool) -> None:
        for line in stream:
            into.append(line)
            if announce:
                self._lines.put(line)

    def output(self) -> str:
        return "".join(self.stdout) + "\n--- stderr ---\n" + "".join(self.stderr)

    def wait_for_line(self, predicate: Callable[[str], bool], timeout: float = 20.0) -> str:
        """The first stdout line (already seen or still to come) that satisfies ``predicate``."""
        for line in list(self.stdout):
            if predicate(line):
                return line
        deadline = time.monotonic() + timeout
        while True:
            remaining = deadline - time.monotonic()
            if remaining <= 0 or (self.proc.poll() is not None and self._lines.empty()):
                raise AssertionError(f"no such line in the server's output:\n{self.output()}")
            try:
                line = self._lines.get(timeout=min(remaining, 0.2))
            except queue.Empty:
                continue
            if predicate(line):
                return line

    def stop(self) -> int:
        if self.proc.poll() is None:
            self.proc.send_signal(signal.SIGTERM)
            try:
                self.proc.wait(timeout=40)
            except subprocess.TimeoutExpired:
                self.proc.kill()
                self.proc.wait(timeout=10)
        for reader in self._readers:
            reader.join(timeout=5)
        for stream in (self.proc.stdout, self.proc.stderr):
            if stream is not None:
                stream.close()
        return self.proc.returncode


@contextmanager
def running_server(*args: str, cwd: Path, **env: str) -> Iterator[ServerProcess]:
    """Start the server, wait for its ``listening on <url>`` line, stop it (SIGTERM) afterwards."""
    proc = subprocess.Popen([sys.executable, "-m", "localcore", *args], stdout=subprocess.PIPE,
                            stderr=subprocess.PIPE, text=True, env=cli_env(**env), cwd=cwd,
                            umask=USUAL_UMASK)
    server = ServerProcess(proc)
    try:
        line = server.wait_for_line(lambda text: "listening on" in text, timeout=30)
        server.url = line.rsplit(" ", 1)[-1].strip()
        yield server
    finally:
        server.stop()


def http(method: str, url: str, body: Any = None, headers: dict[str, str] | None = None) -> tuple[int, Any]:
    """One request with the standard library (no Origin, no Fetch-Metadata: a script, not a browser)."""
    data = json.dumps(body).encode() if body is not None else None
    request = urllib.request.Request(url, data=data, method=method, headers={
        **({"Content-Type": "application/json"} if data is not None else {}), **(headers or {})})
    try:
        with urllib.request.urlopen(request, timeout=10) as response:
            raw = response.read()
            status = response.status
    except urllib.error.HTTPError as error:
        raw = error.read()
        status = error.code
    try:
        return status, json.loads(raw) if raw else None
    except ValueError:
        return status, raw.decode(errors="replace")


def mode_of(path: Path) -> int:
    return path.stat().st_mode & 0o777
