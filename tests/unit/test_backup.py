"""``python -m localcore backup`` / ``restore`` as real subprocesses on real files, next to a real server.

The main scenario: a server takes sign-ups over HTTP in two loops while ``backup`` copies its database;
the backup is one consistent moment (every user has their credential, every workspace its owner, nothing
after the snapshot); ``restore`` refuses while that server runs and succeeds once it is stopped, and a
server on the restored data directory signs the backed-up users in with their passwords.
"""

from __future__ import annotations

import contextlib
import hashlib
import json
import re
import sqlite3
import subprocess
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import pytest

import backends.sqlite
from tests.unit import cli_support
from tests.unit.cli_support import ServeProcess
from tests.unit.test_cli import clean_env as cli_env

PASSWORD = "Zk8$mN!qR2xFgWpJ"
SIGN_UP_LOOPS = 2
FILLER_ROWS = 40_000  # ~40 MiB, so that the copy takes several steps

#: The schema version a fresh database has: the number of the newest SQLite migration file.
NEWEST_MIGRATION = max(int(p.name[:4]) for p in (Path(backends.sqlite.__file__).parent / "migrations").glob("*.sql"))


def clean_env(**extra: str) -> dict[str, str]:
    return cli_env(LOCALCORE_RATE_LIMITS="off", **extra)


def run_cli(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return cli_support.run_cli(*args, cwd=cwd, env=clean_env(), timeout=120)


def post(base: str, path: str, body: dict[str, Any]) -> int:
    request = urllib.request.Request(base + path, data=json.dumps(body).encode(), method="POST",
                                     headers={"Content-Type": "application/json"})
    try:
        with urllib.request.urlopen(request, timeout=30) as response:
            return int(response.status)
    except urllib.error.HTTPError as exc:
        return int(exc.code)


def sign_in(base: str, email: str, password: str = PASSWORD) -> int:
    return post(base, "/auth/sign-in/email", {"email": email, "password": password})


class Server(ServeProcess):
    """``python -m localcore serve`` on ``data_dir`` and a free port, stopped with SIGTERM."""

    def __init__(self, data_dir: Path, cwd: Path) -> None:
        super().__init__("--data-dir", str(data_dir), cwd=cwd, env=clean_env())


@dataclass
class SignUps:
    """Sign-up loops against a server; each attempt's email, start and end times and status."""

    base: str
    attempts: list[tuple[str, float, float, int]] = field(default_factory=list)
    stop: threading.Event = field(default_factory=threading.Event)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def loop(self, number: int) -> None:
        for index in range(10_000):
            if self.stop.is_set():
                return
            email = f"user-{number}-{index}@example.com"
            started = time.monotonic()
            status = post(self.base, "/auth/sign-up/email", {"name": f"User {number}-{index}", "email": email,
                                                              "password": PASSWORD})
            with self.lock:
                self.attempts.append((email, started, time.monotonic(), status))

    def done(self, before: float = float("inf")) -> set[str]:
        with self.lock:
            return {email for email, _, ended, status in self.attempts if status == 200 and ended < before}

    def started(self, before: float) -> set[str]:
        with self.lock:
            return {email for email, started, _, _ in self.attempts if started < before}

    def wait_for(self, count: int, after: float = 0.0, timeout: float = 90.0) -> None:
        deadline = time.monotonic() + timeout
        while len(self.done() - self.done(before=after)) < count:
            assert time.monotonic() < deadline, f"only {len(self.done())} sign-ups"
            time.sleep(0.05)

    @contextlib.contextmanager
    def running(self, loops: int) -> Iterator[None]:
        """``loops`` sign-up threads for the length of the block; stopped and joined when it ends."""
        threads = [threading.Thread(target=self.loop, args=(n,), daemon=True) for n in range(loops)]
        for thread in threads:
            thread.start()
        try:
            yield
        finally:
            self.stop.set()
            for thread in threads:
                thread.join(timeout=60)


def open_copy(path: Path) -> sqlite3.Connection:
    """Read a database file without writing anything beside it (no -wal, no -shm, no locks)."""
    return sqlite3.connect(f"{path.as_uri()}?mode=ro&immutable=1", uri=True)


def emails(path: Path) -> set[str]:
    conn = open_copy(path)
    try:
        return {str(row[0]) for row in conn.execute("SELECT email FROM users")}
    finally:
        conn.close()


def folder_state(folder: Path) -> dict[str, str]:
    """Every file in ``folder`` by name, with the SHA-256 of its bytes."""
    return {p.name: hashlib.sha256(p.read_bytes()).hexdigest() for p in sorted(folder.iterdir()) if p.is_file()}


def mode(path: Path) -> int:
    return path.stat().st_mode & 0o777


def fill(database: Path, rows: int) -> None:
    """Bulk rows in a table no code path reads, so that copying the database takes a while."""
    conn = sqlite3.connect(database, isolation_level=None)
    try:
        conn.execute("BEGIN")
        conn.executemany(
            "INSERT INTO telemetry_events (id, app_id, event_name, properties, created_at) "
            "VALUES (?, 'filler', 'filler', ?, ?)",
            ((f"filler-{i}", json.dumps({"pad": f"{i:08d}" * 120}), time.time_ns() // 1000) for i in range(rows)))
        conn.execute("COMMIT")
    finally:
        conn.close()


def assert_consistent(path: Path) -> None:
    """What a single moment of a localcore database looks like (the invariants each write transaction keeps)."""
    conn = open_copy(path)
    try:
        assert conn.execute("PRAGMA integrity_check").fetchall() == [("ok",)]
        assert conn.execute("PRAGMA foreign_key_check").fetchall() == []
        # A user and their password credential are one transaction.
        assert conn.execute(
            "SELECT count(*) FROM users u WHERE (SELECT count(*) FROM accounts a WHERE a.user_id = u.id "
            "AND a.provider_id = 'credential') <> 1").fetchone() == (0,)
        # A workspace and its owner membership are one transaction.
        assert conn.execute(
            "SELECT count(*) FROM workspaces w WHERE NOT EXISTS (SELECT 1 FROM workspace_members m "
            "WHERE m.workspace_id = w.id AND m.user_id = w.created_by AND m.role = 'owner')").fetchone() == (0,)
        assert conn.execute("SELECT count(*) FROM workspaces WHERE is_default = 1").fetchone()[0] <= \
            conn.execute("SELECT count(*) FROM users").fetchone()[0]
        # The default workspace follows the sign-up in its own transaction: only in-flight sign-ups (one per
        # loop) may be caught between the two.
        without_default = conn.execute(
            "SELECT count(*) FROM users u WHERE NOT EXISTS (SELECT 1 FROM workspaces w WHERE w.created_by = u.id "
            "AND w.is_default = 1)").fetchone()[0]
        assert without_default <= SIGN_UP_LOOPS
        assert conn.execute("SELECT count(*) FROM telemetry_events").fetchone() == (FILLER_ROWS,)
    finally:
        conn.close()


@pytest.fixture
def server_box() -> Iterator[list[Server]]:
    """Servers a test started, killed if the test failed before stopping them."""
    servers: list[Server] = []
    yield servers
    for server in servers:
        server.kill()


def test_backup_under_concurrent_sign_ups_then_restore_into_the_stopped_data_dir(
        tmp_path: Path, server_box: list[Server]) -> None:
    data = tmp_path / "data"
    database = data / "localcore.db"
    backup = tmp_path / "backups" / "snapshot.db"
    backup.parent.mkdir()
    migrated = run_cli("migrate", "--data-dir", str(data), cwd=tmp_path)
    assert migrated.returncode == 0, migrated.stderr
    fill(database, FILLER_ROWS)

    server = Server(data, tmp_path)
    server_box.append(server)
    signups = SignUps(server.base)
    with signups.running(SIGN_UP_LOOPS):
        signups.wait_for(3)
        backup_started = time.monotonic()
        result = run_cli("backup", str(backup), "--data-dir", str(data), "--step-pause", "0.05", cwd=tmp_path)
        backup_ended = time.monotonic()
        signups.wait_for(2, after=backup_ended)
    assert result.returncode == 0, result.stdout + result.stderr
    assert all(status == 200 for *_, status in signups.attempts), signups.attempts  # never starved, never 503
    steps = int(re.search(r"\((\d+) steps?", result.stdout).group(1))  # type: ignore[union-attr]
    assert steps > 1, result.stdout
    assert "integrity: ok" in result.stdout and f"schema version {NEWEST_MIGRATION}" in result.stdout
    assert re.search(r"rows: users \d+, accounts \d+", result.stdout), result.stdout

    # One self-contained, private, rollback-journal file.
    assert mode(backup) == 0o600
    assert sorted(p.name for p in backup.parent.iterdir()) == ["snapshot.db"]
    assert backup.read_bytes()[18:20] == b"\x01\x01"
    assert_consistent(backup)
    in_backup = emails(backup)
    assert signups.done(before=backup_started) <= in_backup <= signups.started(before=backup_ended)
    # The server kept committing while the backup ran: those sign-ups are not in the snapshot.
    assert signups.done(before=backup_ended) - in_backup, "no sign-up completed during the backup"
    after_backup = signups.done() - in_backup
    assert after_backup

    # Restore refuses while the server has the database open, and changes nothing.
    names_before = sorted(p.name for p in data.iterdir())
    refused = run_cli("restore", str(backup), "--data-dir", str(data), cwd=tmp_path)
    assert refused.returncode == 1
    assert f"is open in process {server.pid}" in refused.stderr and "Nothing was changed" in refused.stderr
    assert sorted(p.name for p in data.iterdir()) == names_before
    someone_new = sorted(after_backup)[0]
    assert sign_in(server.base, someone_new) == 200  # still serving the live data

    server.stop()
    everyone = signups.done()
    restored = run_cli("restore", str(backup), "--data-dir", str(data), cwd=tmp_path)
    assert restored.returncode == 0, restored.stdout + restored.stderr
    previous = data / "localcore.db.before-restore"
    assert f"kept as {previous}" in restored.stdout
    assert emails(database) == in_backup
    assert emails(previous) >= everyone  # the database as it was, up to the last sign-up
    assert mode(database) == 0o600 and mode(previous) == 0o600
    leftovers = {p.name for p in data.iterdir()} - {"localcore.db", "localcore.db.before-restore",
                                                   "localcore.db.lock", "secrets.json"}
    assert leftovers == set()

    server = Server(data, tmp_path)
    server_box.append(server)
    someone_old = sorted(in_backup)[0]
    assert sign_in(server.base, someone_old) == 200
    assert sign_in(server.base, someone_old, "not-the-password-1") == 401
    assert sign_in(server.base, someone_new) == 401  # signed up after the backup: not in the restored data
    server.stop()


def test_restore_refuses_what_is_not_a_localcore_backup_without_changing_anything(tmp_path: Path) -> None:
    data, fresh, files = tmp_path / "data", tmp_path / "fresh", tmp_path / "files"
    files.mkdir()
    nothing = run_cli("backup", str(files / "none.db"), "--data-dir", str(fresh), cwd=tmp_path)
    assert nothing.returncode == 1 and "nothing to back up" in nothing.stderr
    assert run_cli("migrate", "--data-dir", str(data), cwd=tmp_path).returncode == 0
    good = files / "good.db"
    made = run_cli("backup", str(good), "--data-dir", str(data), cwd=tmp_path)
    assert made.returncode == 0, made.stderr
    good_bytes = good.read_bytes()
    again = run_cli("backup", str(good), "--data-dir", str(data), cwd=tmp_path)
    assert again.returncode == 1 and "exists" in again.stderr and "--force" in again.stderr
    assert good.read_bytes() == good_bytes
    forced = run_cli("backup", str(good), "--force", "--data-dir", str(data), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr
    assert mode(good) == 0o600

    (files / "notes.txt").write_text("not a database\n" * 500)
    (files / "empty.db").write_bytes(b"")
    (files / "truncated.db").write_bytes(good.read_bytes()[: len(good_bytes) // 2])
    foreign = sqlite3.connect(files / "foreign.db")
    foreign.execute("CREATE TABLE notes (id integer PRIMARY KEY, body text)")
    foreign.commit()
    foreign.close()
    for name, change in (("newer.db", "INSERT INTO schema_migrations VALUES (999, '0999_x.sql', 'x', 0)"),
                         ("edited.db", "UPDATE schema_migrations SET checksum = 'edited' WHERE version = 1")):
        (files / name).write_bytes(good.read_bytes())
        conn = sqlite3.connect(files / name)
        conn.execute(change)
        conn.commit()
        conn.close()
    cases = {"missing.db": "does not exist", "notes.txt": "not a SQLite database", "empty.db": "is empty",
             "truncated.db": "is truncated", "foreign.db": "not a localcore one",
             "newer.db": "newer than this localcore", "edited.db": "differs from localcore's",
             "live.db": "it is a live database, not a backup"}
    (files / "live.db").write_bytes(good_bytes)
    (files / "live.db-wal").write_bytes(b"\x00" * 4096)
    data_before, files_before = folder_state(data), folder_state(files)
    for name, expected in cases.items():
        result = run_cli("restore", str(files / name), "--data-dir", str(data), cwd=tmp_path)
        assert result.returncode == 1, (name, result.stdout, result.stderr)
        assert expected in result.stderr and "Nothing was changed" in result.stderr, (name, result.stderr)
        assert folder_state(data) == data_before, name
        assert folder_state(files) == files_before, name

    # Into a data directory that has no database yet: nothing to keep.
    into_fresh = run_cli("restore", str(good), "--data-dir", str(fresh), cwd=tmp_path)
    assert into_fresh.returncode == 0, into_fresh.stderr
    assert "kept as" not in into_fresh.stdout
    assert mode(fresh / "localcore.db") == 0o600
    assert not (fresh / "localcore.db.before-restore").exists()


def test_a_second_restore_keeps_the_first_before_restore_unless_forced(tmp_path: Path) -> None:
    data = tmp_path / "data"
    assert run_cli("migrate", "--data-dir", str(data), cwd=tmp_path).returncode == 0
    backup = tmp_path / "b.db"
    assert run_cli("backup", str(backup), "--data-dir", str(data), cwd=tmp_path).returncode == 0
    assert run_cli("restore", str(backup), "--data-dir", str(data), cwd=tmp_path).returncode == 0
    kept = (data / "localcore.db.before-restore").read_bytes()
    second = run_cli("restore", str(backup), "--data-dir", str(data), cwd=tmp_path)
    assert second.returncode == 1 and "before-restore exists" in second.stderr
    assert (data / "localcore.db.before-restore").read_bytes() == kept
    forced = run_cli("restore", str(backup), "--force", "--data-dir", str(data), cwd=tmp_path)
    assert forced.returncode == 0, forced.stderr


@pytest.mark.parametrize("command", ["backup", "restore"])
def test_memory_has_nothing_to_back_up_or_restore(tmp_path: Path, command: str) -> None:
    target = tmp_path / "x.db"
    if command == "restore":
        target.write_bytes(b"")
    result = run_cli(command, str(target), "--database-url", "memory://", "--data-dir", str(tmp_path / "d"),
                     cwd=tmp_path)
    assert result.returncode == 2
    assert "memory://" in result.stderr and result.stdout == ""
    assert sorted(p.name for p in tmp_path.iterdir() if p.is_file()) == (["x.db"] if command == "restore" else [])


def test_backup_on_postgres_explains_pg_dump_and_writes_nothing(tmp_path: Path, postgres_admin_url: str) -> None:
    # The suite's shared cluster (localcore.testing.plugin): a missing Postgres fails under CI.
    postgres_url = postgres_admin_url
    with_password = postgres_url.replace("postgresql://postgres@", "postgresql://postgres:hunter22@", 1)
    result = run_cli("backup", str(tmp_path / "pg.db"), "--database-url", with_password,
                     "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert result.returncode == 2
    assert "pg_dump --format=custom" in result.stderr and "pg_restore" in result.stderr
    assert "Nothing was written" in result.stderr
    assert "hunter22" not in result.stdout + result.stderr
    assert not (tmp_path / "pg.db").exists()
    restore = run_cli("restore", str(tmp_path / "pg.db"), "--database-url", postgres_url,
                      "--data-dir", str(tmp_path / "d"), cwd=tmp_path)
    assert restore.returncode == 2 and "pg_restore" in restore.stderr


def test_the_lock_probe_sees_any_process_with_the_database_open(tmp_path: Path) -> None:
    from localcore.backups import locks

    database = tmp_path / "x.db"
    conn = sqlite3.connect(database, isolation_level=None)
    conn.execute("PRAGMA journal_mode = WAL").fetchall()
    conn.execute("CREATE TABLE t (x)")
    conn.close()
    holder = subprocess.Popen(
        [sys.executable, "-c", "import sqlite3, sys; c = sqlite3.connect(sys.argv[1]); "
         "c.execute('SELECT count(*) FROM t').fetchall(); print('open', flush=True); sys.stdin.read()",
         str(database)], stdin=subprocess.PIPE, stdout=subprocess.PIPE, text=True)
    try:
        assert holder.stdout is not None and holder.stdout.readline() == "open\n"
        found = locks.holder(database)  # an idle connection, between reads
        assert found is not None and found.pid in (holder.pid, None)
        with pytest.raises(locks.InUse), locks.exclusive(database):
            pass
    finally:
        holder.communicate("", timeout=30)
    assert locks.holder(database) is None
    reader = [sys.executable, "-c", "import sqlite3, sys; sqlite3.connect(sys.argv[1], timeout=0.2)"
              ".execute('SELECT count(*) FROM t').fetchall()", str(database)]
    with locks.exclusive(database):
        blocked = subprocess.run(reader, capture_output=True, text=True, timeout=30)
        assert blocked.returncode != 0 and "database is locked" in blocked.stderr
    assert subprocess.run(reader, capture_output=True, timeout=30).returncode == 0


def test_restore_also_refuses_while_a_server_holds_the_server_lock(tmp_path: Path) -> None:
    """``<database>.lock`` held shared (what a server can hold for its lifetime, each worker alike) is
    compatible with other servers and makes a restore refuse, before SQLite is even asked."""
    from localcore.backups import locks

    data = tmp_path / "data"
    assert run_cli("migrate", "--data-dir", str(data), cwd=tmp_path).returncode == 0
    backup = tmp_path / "b.db"
    assert run_cli("backup", str(backup), "--data-dir", str(data), cwd=tmp_path).returncode == 0
    database = (data / "localcore.db").resolve()
    with locks.server_lock(database, shared=True), locks.server_lock(database, shared=True):
        with pytest.raises(locks.InUse), locks.server_lock(database, shared=False):
            pass
        before = folder_state(data)
        refused = run_cli("restore", str(backup), "--data-dir", str(data), cwd=tmp_path)
        assert refused.returncode == 1 and "is open in another process" in refused.stderr, refused.stderr
        assert folder_state(data) == before
    assert run_cli("restore", str(backup), "--data-dir", str(data), cwd=tmp_path).returncode == 0
