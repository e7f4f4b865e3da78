"""``python -m localcore`` as a real subprocess: starts on an empty data dir, serves, stops cleanly."""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def clean_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items()
           if not k.startswith(("BETTER_AUTH", "DATABASE_URL", "CORE_STORES", "MAIL_", "LOCALCORE_", "PORT"))}
    env.update({"LOCALCORE_KEYRING": "null", **extra})
    return env


def wait_for(url: str, timeout: float = 15.0) -> bytes:
    deadline = time.monotonic() + timeout
    while True:
        try:
            with urllib.request.urlopen(url, timeout=2) as response:
                return bytes(response.read())
        except OSError:
            if time.monotonic() > deadline:
                raise
            time.sleep(0.05)


def test_serve_on_an_empty_data_dir_answers_health_and_stops_on_sigterm(tmp_path: Path) -> None:
    port = free_port()
    data_dir = tmp_path / "data"
    started = time.monotonic()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcore", "--data-dir", str(data_dir), "--port", str(port), "--no-bootstrap"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path)
    try:
        body = wait_for(f"http://127.0.0.1:{port}/health")
        ready_after = time.monotonic() - started
        assert json.loads(body) == {"ok": True}
        assert (data_dir / "localcore.db").exists()
        secrets_file = data_dir / "secrets.json"
        assert secrets_file.exists() and (secrets_file.stat().st_mode & 0o777) == 0o600
        proc.send_signal(signal.SIGTERM)
        out, err = proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0, err.decode()
    assert f"http://127.0.0.1:{port}" in out.decode()
    assert "shutdown:complete" in err.decode()
    assert ready_after < 15


def test_secrets_survive_a_restart(tmp_path: Path) -> None:
    from localcore.secrets_store import ensure_secrets

    first, where = ensure_secrets(tmp_path, {"LOCALCORE_KEYRING": "null"})
    second, _ = ensure_secrets(tmp_path, {"LOCALCORE_KEYRING": "null"})
    assert first == second and set(first) == {"BETTER_AUTH_SECRET", "WORKSPACE_SETTINGS_ENCRYPTION_KEY",
                                              "DEV_MAILBOX_TOKEN"}
    assert where.endswith("secrets.json")
    given, where = ensure_secrets(tmp_path, {"BETTER_AUTH_SECRET": "a", "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "b",
                                             "DEV_MAILBOX_TOKEN": "c"})
    assert given == {} and where == "environment"


def test_sigint_also_stops_cleanly(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcore", "serve", "--data-dir", str(tmp_path), "--port", str(port),
         "--database-url", "memory://"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        proc.send_signal(signal.SIGINT)
        proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0


def run_cli(*args: str, cwd: Path, **env: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run([sys.executable, "-m", "localcore", *args], capture_output=True, text=True,
                          env=clean_env(**env), cwd=cwd, timeout=60)


def test_help_lists_the_subcommands(tmp_path: Path) -> None:
    result = run_cli("--help", cwd=tmp_path)
    assert result.returncode == 0
    for command in ("serve", "migrate", "doctor", "credits", "rotate-settings-key"):
        assert command in result.stdout


def test_version(tmp_path: Path) -> None:
    result = run_cli("--version", cwd=tmp_path)
    assert result.returncode == 0 and result.stdout.startswith("localcore ")


def test_migrate_then_doctor_report_the_schema_and_redact_secrets(tmp_path: Path) -> None:
    env = {"BETTER_AUTH_SECRET": "super-secret-value-123", "MAIL_FROM": "a@b.c",
           "MAIL_TRANSPORT_URL": "smtp://user:smtp-password@127.0.0.1:1"}
    migrated = run_cli("migrate", "--data-dir", str(tmp_path), cwd=tmp_path, **env)
    assert migrated.returncode == 0, migrated.stderr
    assert "schema version" in migrated.stdout
    doctor = run_cli("doctor", "--data-dir", str(tmp_path), cwd=tmp_path, **env)
    assert doctor.returncode == 0, doctor.stdout + doctor.stderr
    assert "super-secret-value-123" not in doctor.stdout and "smtp-password" not in doctor.stdout
    assert "[REDACTED]" in doctor.stdout
    assert "ok   backend" in doctor.stdout and "schema version" in doctor.stdout
    assert "smtp://" in doctor.stdout


def test_doctor_fails_on_an_unreachable_database(tmp_path: Path) -> None:
    port = free_port()
    result = run_cli("doctor", "--database-url", f"postgresql://u:pw@127.0.0.1:{port}/db", cwd=tmp_path)
    assert result.returncode == 1
    assert "FAIL backend" in result.stdout and ":pw@" not in result.stdout


def test_invalid_configuration_exits_2_listing_every_problem(tmp_path: Path) -> None:
    result = run_cli("migrate", cwd=tmp_path, LOCALCORE_ENV="production")
    assert result.returncode == 2
    assert "BETTER_AUTH_SECRET" in result.stderr and "WORKSPACE_SETTINGS_ENCRYPTION_KEY" in result.stderr


@pytest.mark.parametrize("flag", ["--host", "--port"])
def test_serve_flags_are_accepted_without_the_subcommand(flag: str, tmp_path: Path) -> None:
    from localcore.cli import build_parser

    args = build_parser().parse_args(["serve", flag, "1"])
    assert getattr(args, flag.lstrip("-")) in ("1", 1)


def test_workers_share_the_port_and_stop_together(tmp_path: Path) -> None:
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcore", "--data-dir", str(tmp_path), "--port", str(port), "--workers", "2",
         "--no-bootstrap"], stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path)
    try:
        wait_for(f"http://127.0.0.1:{port}/health")
        deadline = time.monotonic() + 15
        children: list[str] = []
        while time.monotonic() < deadline and not children:
            children = subprocess.run(["pgrep", "-P", str(proc.pid)], capture_output=True, text=True).stdout.split()
            time.sleep(0.1)
        assert len(children) == 1
        for _ in range(20):
            assert json.loads(wait_for(f"http://127.0.0.1:{port}/health")) == {"ok": True}
        proc.send_signal(signal.SIGTERM)
        out, _ = proc.communicate(timeout=60)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
    assert "listening on" in out.decode()
    assert not Path(f"/proc/{children[0]}").exists()


def test_port_zero_picks_a_free_port_and_the_public_url_follows_it(tmp_path: Path) -> None:
    proc = subprocess.Popen(
        [sys.executable, "-m", "localcore", "--data-dir", str(tmp_path), "--port", "0", "--no-bootstrap"],
        stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=clean_env(), cwd=tmp_path)
    try:
        assert proc.stdout is not None
        first_line = proc.stdout.readline().decode()
        url = first_line.rsplit(" ", 1)[-1].strip()
        assert url.startswith("http://127.0.0.1:") and not url.endswith(":0") and not url.endswith(":8787")
        assert json.loads(wait_for(url + "/health")) == {"ok": True}
        assert json.loads(wait_for(url + "/api/v1/config"))["apiBase"] == url
        proc.send_signal(signal.SIGTERM)
        proc.communicate(timeout=40)
    finally:
        if proc.poll() is None:
            proc.kill()
    assert proc.returncode == 0
