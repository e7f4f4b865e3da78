"""``python -m localcore audit``: filters, the table and the ``--json`` line format, on a SQLite file written
by real store calls (and once through a real ``python -m localcore`` subprocess)."""

from __future__ import annotations

import asyncio
import json
import logging
import os
import subprocess
import sys
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from backends import open_backend
from localcore.cli import main
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import ManualClock

ENV = {"LOCALCORE_ENV": "test", "LOCALCORE_KEYRING": "null", "BETTER_AUTH_SECRET": "x" * 64,
       "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64, "MAIL_FROM": "T <t@example.com>",
       "MAIL_TRANSPORT_URL": "console://"}
START = datetime(2026, 3, 1, 9, 0, tzinfo=UTC)


@pytest.fixture(autouse=True)
def _keep_logging() -> Iterator[None]:
    """``main`` configures logging for a real command (root handler, ``aiohttp.access`` at WARNING): put
    it back so the HTTP tests that run after these still see their records."""
    root, access = logging.getLogger(), logging.getLogger("aiohttp.access")
    handlers, level, access_level = list(root.handlers), root.level, access.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)
    access.setLevel(access_level)


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> dict[str, str]:
    """A database with ada's and bob's events over three days; returns the url and the ids."""
    for name, value in ENV.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'audit.db'}"
    clock = ManualClock(START)

    async def fill() -> dict[str, str]:
        async with await open_backend(url, clock=clock) as backend:
            ada = await backend.users.create_user(email="ada@example.com", audit=AuditRecord("auth.sign_up"))
            clock.advance(days=1)
            bob = await backend.users.create_user(email="bob@example.com", audit=AuditRecord("auth.sign_up"))
            clock.advance(seconds=1)
            ws = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="boring-app",
                                                           audit=AuditRecord("workspace.create", actor_id=ada.id))
            clock.advance(days=1)
            await backend.workspaces.add_member(ws.id, bob.id, "editor", audit=AuditRecord(
                "member.add", actor_id=ada.id, workspace_id=ws.id, target_type="user", target_id=bob.id,
                details={"role": "editor"}, ip="198.51.100.4"))
            return {"url": url, "ada": ada.id, "bob": bob.id, "ws": ws.id}

    return asyncio.run(fill())


def audit(db: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str], *argv: str) -> tuple[int, str]:
    capsys.readouterr()
    code = main(["audit", *argv, "--database-url", db["url"], "--data-dir", str(tmp_path)])
    return code, capsys.readouterr().out


def lines(out: str) -> list[dict[str, object]]:
    return [json.loads(line) for line in out.splitlines()]


def test_json_prints_one_event_object_per_line_newest_first(db: dict[str, str], tmp_path: Path,
                                                            capsys: pytest.CaptureFixture[str]) -> None:
    code, out = audit(db, tmp_path, capsys, "--json")
    assert code == 0
    events = lines(out)
    assert [e["action"] for e in events] == ["member.add", "workspace.create", "auth.sign_up", "auth.sign_up"]
    first = events[0]
    assert set(first) == {"id", "action", "actorId", "actorEmail", "actorDeleted", "workspaceId", "targetType",
                          "targetId", "details", "ip", "userAgent", "requestId", "createdAt"}
    assert (first["actorEmail"], first["workspaceId"], first["details"], first["ip"]) == (
        "ada@example.com", db["ws"], {"role": "editor"}, "198.51.100.4")
    assert first["createdAt"] == "2026-03-03T09:00:01.000Z"


def test_filters_combine(db: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    def actions(*argv: str) -> list[object]:
        code, out = audit(db, tmp_path, capsys, "--json", *argv)
        assert code == 0
        return [e["action"] for e in lines(out)]

    assert actions("--workspace", db["ws"]) == ["member.add", "workspace.create"]
    assert actions("--user", "BOB@example.com") == ["member.add", "auth.sign_up"]
    assert actions("--action", "auth.sign_up") == ["auth.sign_up", "auth.sign_up"]
    assert actions("--since", "2026-03-02T09:00:00Z") == ["member.add", "workspace.create", "auth.sign_up"]
    assert actions("--since", "2026-03-02T09:00:01") == ["member.add", "workspace.create"]  # no zone: UTC
    assert actions("--since", "2026-03-02T09:00:02+00:00") == ["member.add"]
    assert actions("--limit", "1") == ["member.add"]
    assert actions("--user", "ada@example.com", "--action", "auth.sign_up") == ["auth.sign_up"]
    assert actions("--workspace", "00000000-0000-4000-8000-000000000000") == []


def test_the_table_and_the_refusals(db: dict[str, str], tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    code, out = audit(db, tmp_path, capsys, "--workspace", db["ws"])
    assert code == 0
    header, *rows = out.splitlines()
    assert header.split() == ["createdAt", "action", "actor", "workspaceId", "target", "details", "ip"]
    assert len(rows) == 2 and rows[0].split()[:3] == ["2026-03-03T09:00:01.000Z", "member.add", "ada@example.com"]
    assert f"user:{db['bob']}" in rows[0] and '{"role":"editor"}' in rows[0]
    assert audit(db, tmp_path, capsys, "--action", "nothing.like.this")[1] == "no audit events\n"
    assert audit(db, tmp_path, capsys, "--user", "nobody@example.com")[0] == 1
    for bad in (["--since", "yesterday"], ["--limit", "0"], ["--limit", "x"]):
        with pytest.raises(SystemExit) as exit_:
            audit(db, tmp_path, capsys, *bad)
        assert exit_.value.code == 2


def test_as_a_real_command(db: dict[str, str], tmp_path: Path) -> None:
    done = subprocess.run([sys.executable, "-m", "localcore", "audit", "--json", "--action", "member.add",
                           "--database-url", db["url"], "--data-dir", str(tmp_path)],
                          capture_output=True, text=True, timeout=60, env={**os.environ, **ENV}, check=False)
    assert done.returncode == 0, done.stderr
    [event] = lines(done.stdout)
    assert (event["action"], event["targetId"]) == ("member.add", db["bob"])
