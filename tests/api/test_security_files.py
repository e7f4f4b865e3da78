"""Attack: another local user reads the database (docs/compatibility.md, "Security hardening").

Today the data directory is created 0755 and ``localcore.db`` (with its ``-wal``/``-shm``) 0644 under the
usual umask, so any other account on the machine reads every email, password hash, session IP and
workspace setting. Fixed: the data directory is 0700 and the database files 0600, also when they already
existed with wider modes. Every server here runs under umask 022, the usual one.
"""

from __future__ import annotations

import sqlite3
from pathlib import Path

from tests.api.auth_support import STRONG_PASSWORD
from tests.api.security_support import http, mode_of, run_cli, running_server

DB_FILES = ("localcore.db", "localcore.db-wal", "localcore.db-shm")


def _write_something(base_url: str) -> None:
    status, body = http("POST", f"{base_url}/auth/sign-up/email",
                        {"name": "Ada", "email": "ada@example.com", "password": STRONG_PASSWORD})
    assert status == 200, body


def _assert_owner_only(data_dir: Path, *, wal_files: bool) -> None:
    assert mode_of(data_dir) == 0o700, oct(mode_of(data_dir))
    names = DB_FILES if wal_files else DB_FILES[:1]
    for name in names:
        path = data_dir / name
        assert path.exists(), f"{name} missing: {sorted(p.name for p in data_dir.iterdir())}"
        assert mode_of(path) == 0o600, (name, oct(mode_of(path)))
    for name in DB_FILES:  # whatever exists at all
        path = data_dir / name
        if path.exists():
            assert mode_of(path) == 0o600, (name, oct(mode_of(path)))


def test_serve_creates_an_owner_only_data_dir_and_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "fresh" / "data"
    with running_server("--data-dir", str(data_dir), "--port", "0", "--no-bootstrap", cwd=tmp_path) as server:
        _write_something(server.url)
        _assert_owner_only(data_dir, wal_files=True)  # -wal and -shm exist while the server runs


def test_migrate_creates_an_owner_only_data_dir_and_database(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    result = run_cli("migrate", "--data-dir", str(data_dir), cwd=tmp_path)
    assert result.returncode == 0, result.stderr
    _assert_owner_only(data_dir, wal_files=False)


def test_an_existing_world_readable_data_dir_and_database_are_tightened(tmp_path: Path) -> None:
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    database = data_dir / "localcore.db"
    sqlite3.connect(database).close()
    data_dir.chmod(0o755)
    database.chmod(0o644)
    with running_server("--data-dir", str(data_dir), "--port", "0", "--no-bootstrap", cwd=tmp_path) as server:
        _write_something(server.url)
        _assert_owner_only(data_dir, wal_files=True)
