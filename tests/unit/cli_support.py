"""Real ``python -m localcore`` processes for the CLI tests: a server on a free port (ready once
``/health`` answers 200, stopped with SIGTERM) and one-shot commands."""

from __future__ import annotations

import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Mapping
from pathlib import Path

from tests.unit.test_cli import free_port

START_TIMEOUT_SECONDS = 30.0


def run_cli(*args: str, cwd: Path, env: Mapping[str, str], timeout: float = 180) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localcore", *args], capture_output=True, text=True,
                          env=dict(env), cwd=cwd, timeout=timeout)


class ServeProcess:
    """``python -m localcore serve --no-bootstrap ARGS`` on a free port."""

    def __init__(self, *args: str, cwd: Path, env: Mapping[str, str]) -> None:
        port = free_port()
        self.base = f"http://127.0.0.1:{port}"
        self.proc = subprocess.Popen([sys.executable, "-m", "localcore", "serve", "--port", str(port),
                                      "--no-bootstrap", *args], stdout=subprocess.DEVNULL,
                                     stderr=subprocess.PIPE, env=dict(env), cwd=cwd)
        deadline = time.monotonic() + START_TIMEOUT_SECONDS
        while True:
            try:
                with urllib.request.urlopen(self.base + "/health", timeout=2) as response:
                    if response.status == 200:
                        return
            except OSError:
                pass
            if self.proc.poll() is not None or time.monotonic() > deadline:
                self.proc.kill()
                _, err = self.proc.communicate(timeout=30)
                raise AssertionError(f"server did not start: {err.decode()[-2000:]}")
            time.sleep(0.05)

    @property
    def pid(self) -> int:
        return self.proc.pid

    def stop(self) -> None:
        """SIGTERM; the server must exit 0."""
        self.proc.send_signal(signal.SIGTERM)
        _, err = self.proc.communicate(timeout=60)
        assert self.proc.returncode == 0, err.decode()

    def kill(self) -> None:
        if self.proc.poll() is None:
            self.proc.kill()
            self.proc.communicate(timeout=30)
