"""A throwaway Postgres cluster for tests, started with the machine's ``initdb``/``pg_ctl``.

Runs as the ``postgres`` system user when the test session runs as root (Postgres refuses to run as
root). Data lives in a temporary directory with fsync off; ``stop()`` removes everything.
"""

from __future__ import annotations

import contextlib
import os
import shutil
import socket
import subprocess
import tempfile
from pathlib import Path

_CANDIDATE_DIRS = ["/usr/lib/postgresql/17/bin", "/usr/lib/postgresql/16/bin", "/usr/lib/postgresql/15/bin"]


class PostgresUnavailable(RuntimeError):
    """No Postgres binaries on this machine."""


def _find(binary: str) -> str:
    found = shutil.which(binary)
    if found:
        return found
    for folder in _CANDIDATE_DIRS:
        candidate = Path(folder) / binary
        if candidate.exists():
            return str(candidate)
    raise PostgresUnavailable(f"{binary} not found (install the Postgres server binaries)")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class ThrowawayCluster:
    def __init__(self) -> None:
        self.initdb = _find("initdb")
        self.pg_ctl = _find("pg_ctl")
        self.root = Path(tempfile.mkdtemp(prefix="localcore-pg-"))
        self.data = self.root / "data"
        self.port = _free_port()
        self.as_postgres = os.geteuid() == 0

    @property
    def url(self) -> str:
        return f"postgresql://postgres@127.0.0.1:{self.port}/postgres"

    def _run(self, *args: str) -> None:
        command = list(args)
        if self.as_postgres:
            command = ["runuser", "-u", "postgres", "--", *command]
        # Fixed binaries and arguments, no shell.
        subprocess.run(command, check=True, stdout=subprocess.DEVNULL,  # noqa: S603
                       stderr=subprocess.PIPE, timeout=120)

    def start(self) -> str:
        if self.as_postgres:
            shutil.chown(self.root, "postgres", "postgres")
        self._run(self.initdb, "-D", str(self.data), "-U", "postgres", "--auth=trust", "-E", "UTF8",
                  "--no-sync")
        self.resume()
        return self.url

    def resume(self) -> None:
        """Start the server (again) on the same port and data."""
        options = (f"-p {self.port} -k {self.root} -c listen_addresses=127.0.0.1 -c fsync=off "
                   "-c synchronous_commit=off -c full_page_writes=off -c max_connections=300")
        self._run(self.pg_ctl, "-D", str(self.data), "-o", options, "-l", str(self.root / "log"), "-w",
                  "start")

    def pause(self) -> None:
        """Stop the server as an operator would (``pg_ctl stop -m fast``: clients are disconnected), keeping
        its data for ``resume``."""
        self._run(self.pg_ctl, "-D", str(self.data), "-m", "fast", "-w", "stop")

    def stop(self) -> None:
        with contextlib.suppress(Exception):
            self._run(self.pg_ctl, "-D", str(self.data), "-m", "immediate", "-w", "stop")
        shutil.rmtree(self.root, ignore_errors=True)
