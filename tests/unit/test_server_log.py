"""The server's log stays readable under hostile input: aiohttp's own 400 for an unparseable request is one
short line, not a stack trace per request (a client could otherwise fill the log)."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path

from tests.unit.test_cli import clean_env, free_port, wait_for

MALFORMED = [b"GET / HTTP/1.1\r\nHost: x\r\nBad Header\r\n\r\n",
             b"GET / HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n",
             b"NOT A REQUEST\r\n\r\n"]


def test_malformed_requests_get_a_400_and_one_line_each_without_a_traceback(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcore", "--data-dir", str(tmp_path / "data"), "--port", str(port),
         "--no-bootstrap"], stdout=subprocess.DEVNULL, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        for raw in MALFORMED * 3:
            with socket.create_connection(("127.0.0.1", port), timeout=5) as sock:
                sock.sendall(raw)
                answer = sock.recv(4096)
            assert answer.split(b" ", 2)[1] == b"400", answer
            assert b"Server: localcore" in answer
        proc.send_signal(signal.SIGTERM)
        _, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
    log = err.decode()
    assert "Traceback" not in log
    assert 0 < log.count("malformed HTTP request refused") <= len(MALFORMED) * 3  # at most one line each
    assert "Bad Header" not in log
