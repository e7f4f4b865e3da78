"""``python -m localcore export`` / ``import`` as real subprocesses, next to real servers.

The main scenario moves a desktop install to Postgres: a server on SQLite signs Ann up over HTTP and
grants her credits; ``export`` writes the file; ``import --database-url postgresql://…`` loads it; a server
on the same data directory (same secrets) and that Postgres database signs Ann in with the same password
and shows the same balance. The other tests: Postgres as the source, a non-empty target and ``--replace``,
a broken file (exit 1, its line number, nothing written), memory, and the progress bar on a terminal only.
"""

from __future__ import annotations

import asyncio
import fcntl
import http.cookiejar
import json
import os
import pty
import sqlite3
import struct
import subprocess
import sys
import termios
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from localcore.testing.plugin import PostgresServer
from tests.unit import cli_support
from tests.unit.cli_support import ServeProcess
from tests.unit.test_backup import SignUps
from tests.unit.test_cli import clean_env as cli_env

PASSWORD = "Zk8$mN!qR2xFgWpJ"


def clean_env() -> dict[str, str]:
    return cli_env(LOCALCORE_RATE_LIMITS="off", SEND_WELCOME_EMAIL="false")


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli_support.run_cli(*args, cwd=cwd, env=clean_env())


class Client:
    """An HTTP client with a cookie jar (the session cookie)."""

    def __init__(self, base: str) -> None:
        self.base = base
        self.opener = urllib.request.build_opener(urllib.request.HTTPCookieProcessor(http.cookiejar.CookieJar()))

    def call(self, method: str, path: str, body: dict[str, Any] | None = None) -> tuple[int, Any]:
        data = json.dumps(body).encode() if body is not None else None
        request = urllib.request.Request(self.base + path, data=data, method=method,
                                         headers={"Content-Type": "application/json"})
        try:
            with self.opener.open(request, timeout=30) as response:
                return int(response.status), json.loads(response.read() or b"null")
        except urllib.error.HTTPError as exc:
            return int(exc.code), json.loads(exc.read() or b"null")


class Server(ServeProcess):
    """``python -m localcore serve ARGS`` on a free port, stopped with SIGTERM."""

    def __init__(self, *args: str, cwd: Path) -> None:
        super().__init__(*args, cwd=cwd, env=clean_env())


@pytest.fixture
def postgres_url(postgres_server: PostgresServer) -> Iterator[str]:
    """A fresh, migrated, empty database on the suite's Postgres cluster."""
    url = asyncio.run(postgres_server.create_database())
    yield url
    asyncio.run(postgres_server.drop_database(url))


def count_users(database: Path) -> int:
    conn = sqlite3.connect(database)
    try:
        return int(conn.execute("SELECT COUNT(*) FROM users").fetchone()[0])
    finally:
        conn.close()


def test_moving_to_postgres_keeps_passwords_and_balances(tmp_path: Path, postgres_url: str) -> None:
    data_dir = tmp_path / "data"
    desktop = Server("--data-dir", str(data_dir), cwd=tmp_path)
    try:
        ann = Client(desktop.base)
        status, _ = ann.call("POST", "/auth/sign-up/email", {"name": "Ann", "email": "ann@example.com",
                                                              "password": PASSWORD})
        assert status == 200
        status, balance = ann.call("GET", "/api/credits/balance")
        assert status == 200 and balance["grantedMicros"] > 0, balance
    finally:
        desktop.stop()
    granted = run_cli("credits", "grant", "ann@example.com", "3.25", "--data-dir", str(data_dir), cwd=tmp_path)
    assert granted.returncode == 0, granted.stderr
    export = run_cli("export", str(tmp_path / "move.jsonl"), "--data-dir", str(data_dir), cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    assert "users: 1" in export.stdout and export.stderr == ""  # no progress bar off a terminal
    imported = run_cli("import", str(tmp_path / "move.jsonl"), "--data-dir", str(data_dir),
                       "--database-url", postgres_url, cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert "balances read back equal" in imported.stdout and "users: 1" in imported.stdout

    server = Server("--data-dir", str(data_dir), "--database-url", postgres_url, cwd=tmp_path)
    try:
        assert Client(server.base).call("POST", "/auth/sign-in/email", {"email": "ann@example.com",
                                                                         "password": "wrong-Password-1"})[0] == 401
        moved = Client(server.base)
        status, body = moved.call("POST", "/auth/sign-in/email", {"email": "ann@example.com", "password": PASSWORD})
        assert status == 200 and body["user"]["email"] == "ann@example.com"
        ann.base = server.base  # the session cookie from the SQLite server still signs Ann in (same secrets)
        status, me = ann.call("GET", "/api/v1/me")
        assert status == 200 and me["user"]["email"] == "ann@example.com", me
        status, after = moved.call("GET", "/api/credits/balance")
        assert status == 200
        grant = 3_250_000  # the `credits grant` made on SQLite after the first look
        assert after == {**balance, "grantedMicros": balance["grantedMicros"] + grant,
                         "remainingMicros": balance["remainingMicros"] + grant,
                         "availableMicros": balance["availableMicros"] + grant}
    finally:
        server.stop()


def test_postgres_as_the_source_and_a_non_empty_target(tmp_path: Path, postgres_url: str) -> None:
    server = Server("--database-url", postgres_url, "--data-dir", str(tmp_path / "pg-data"), cwd=tmp_path)
    try:
        assert Client(server.base).call("POST", "/auth/sign-up/email", {"name": "Bo", "email": "bo@example.com",
                                                                         "password": PASSWORD})[0] == 200
    finally:
        server.stop()
    export = run_cli("export", str(tmp_path / "pg.jsonl"), "--database-url", postgres_url, cwd=tmp_path)
    assert export.returncode == 0, export.stderr
    target = tmp_path / "target.db"
    first = run_cli("import", str(tmp_path / "pg.jsonl"), "--database-url", f"sqlite:///{target}", cwd=tmp_path)
    assert first.returncode == 0, first.stderr
    again = run_cli("import", str(tmp_path / "pg.jsonl"), "--database-url", f"sqlite:///{target}", cwd=tmp_path)
    assert again.returncode == 1
    assert "not empty" in again.stderr and "--replace" in again.stderr and "Nothing was changed" in again.stderr
    assert count_users(target) == 1
    replaced = run_cli("import", str(tmp_path / "pg.jsonl"), "--replace", "--database-url", f"sqlite:///{target}",
                       cwd=tmp_path)
    assert replaced.returncode == 0, replaced.stderr
    assert "replacing everything" in replaced.stdout and count_users(target) == 1
    taken = run_cli("export", str(tmp_path / "pg.jsonl"), "--database-url", postgres_url, cwd=tmp_path)
    assert taken.returncode == 1 and "--force" in taken.stderr


def test_a_broken_file_exits_1_with_its_line_and_writes_nothing(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    migrated = run_cli("migrate", "--database-url", source, cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    conn = sqlite3.connect(tmp_path / "source.db")
    conn.execute("INSERT INTO users (id, name, email, email_verified, created_at, updated_at) VALUES "
                 "('00000000-0000-4000-8000-000000000001', 'X', 'x@example.com', 1, 0, 0)")
    conn.commit()
    conn.close()
    assert run_cli("export", str(tmp_path / "x.jsonl"), "--database-url", source, cwd=tmp_path).returncode == 0
    lines = (tmp_path / "x.jsonl").read_bytes().splitlines(keepends=True)
    (tmp_path / "cut.jsonl").write_bytes(b"".join(lines[:-1]))
    target = tmp_path / "target.db"
    result = run_cli("import", str(tmp_path / "cut.jsonl"), "--database-url", f"sqlite:///{target}", cwd=tmp_path)
    assert result.returncode == 1
    assert f"line {len(lines)}: the file ends before its trailer (truncated)" in result.stderr
    assert "Nothing was changed" in result.stderr and result.stdout == ""
    assert count_users(target) == 0


@pytest.mark.parametrize("command", ["export", "import"])
def test_memory_is_explained_not_pretended(tmp_path: Path, command: str) -> None:
    (tmp_path / "x.jsonl").write_text("{}\n")
    result = run_cli(command, str(tmp_path / "x.jsonl"), "--database-url", "memory://", cwd=tmp_path)
    assert result.returncode == 2
    assert "memory://" in result.stderr and "vanishes when the command exits" in result.stderr
    assert (tmp_path / "x.jsonl").read_text() == "{}\n"


def test_the_progress_bar_is_drawn_on_a_terminal_only(tmp_path: Path) -> None:
    source = f"sqlite:///{tmp_path / 'source.db'}"
    controller, terminal = pty.openpty()
    # A real terminal has a size (a fresh pty is 0x0, on which tqdm draws an empty bar).
    fcntl.ioctl(terminal, termios.TIOCSWINSZ, struct.pack("HHHH", 24, 100, 0, 0))
    try:
        proc = subprocess.run([sys.executable, "-m", "localcore", "export", str(tmp_path / "t.jsonl"),
                               "--database-url", source], stdout=subprocess.PIPE, stderr=terminal,
                              env=clean_env(), cwd=tmp_path, timeout=120)
        os.close(terminal)
        drawn = b""
        while True:
            try:
                chunk = os.read(controller, 4096)
            except OSError:  # the terminal side is closed: everything was read
                break
            if not chunk:
                break
            drawn += chunk
    finally:
        os.close(controller)
    assert proc.returncode == 0
    assert b"export" in drawn and b"rows" in drawn


def test_an_export_under_concurrent_sign_ups_is_one_moment(tmp_path: Path) -> None:
    """Sign-ups (user, credential, workspace, owner, grant and balance row: one transaction each) go on in
    two loops while ``export`` runs against the same SQLite file; the file is one moment: the import's
    checks (counts, ledger identities) pass, every user has their credential and only their grant rows."""
    data_dir = tmp_path / "data"
    server = Server("--data-dir", str(data_dir), cwd=tmp_path)
    signups = SignUps(server.base)
    try:
        with signups.running(2):
            signups.wait_for(5)
            before = time.monotonic()
            export = run_cli("export", str(tmp_path / "live.jsonl"), "--data-dir", str(data_dir), cwd=tmp_path)
            after = time.monotonic()
            signups.wait_for(3, after=after)
    finally:
        server.stop()
    assert export.returncode == 0, export.stderr
    rows = [json.loads(line) for line in (tmp_path / "live.jsonl").read_bytes().splitlines()[1:-1]]
    users = {r["r"]["email"] for r in rows if r["t"] == "users"}
    assert signups.done(before=before) <= users <= signups.started(before=after)
    credentials = {r["r"]["user_id"] for r in rows if r["t"] == "accounts"}
    assert len(credentials) == len(users)
    target = tmp_path / "copy.db"
    imported = run_cli("import", str(tmp_path / "live.jsonl"), "--database-url", f"sqlite:///{target}", cwd=tmp_path)
    assert imported.returncode == 0, imported.stderr
    assert count_users(target) == len(users)
