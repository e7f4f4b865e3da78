"""``python -m localcore credits grant|balance|history`` through ``localcore.cli.main`` on a SQLite file."""

from __future__ import annotations

import asyncio
import json
from pathlib import Path

import pytest

from backends import open_backend
from localcore.cli import main


@pytest.fixture
def db(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> str:
    for name, value in {"LOCALCORE_ENV": "test", "LOCALCORE_KEYRING": "null", "BETTER_AUTH_SECRET": "x" * 64,
                        "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64, "MAIL_FROM": "T <t@example.com>",
                        "MAIL_TRANSPORT_URL": "console://"}.items():
        monkeypatch.setenv(name, value)
    url = f"sqlite:///{tmp_path / 'cli.db'}"

    async def create() -> None:
        async with await open_backend(url) as backend:
            await backend.users.create_user(email="Ops@Example.com", name="ops")

    asyncio.run(create())
    return url


def run(db: str, tmp_path: Path, *argv: str) -> int:
    return main(["credits", *argv, "--database-url", db, "--data-dir", str(tmp_path)])


def balance(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> dict[str, object]:
    capsys.readouterr()
    assert run(db, tmp_path, "balance", "ops@example.com", "--json") == 0
    result: dict[str, object] = json.loads(capsys.readouterr().out)
    return result


def test_grant_balance_and_history(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, tmp_path, "grant", "ops@example.com", "5") == 0
    assert "granted 5.000000 credits to ops@example.com (reason admin:" in capsys.readouterr().out
    assert run(db, tmp_path, "grant", "OPS@example.com", "2.50", "--reason", "promo-1") == 0
    assert run(db, tmp_path, "grant", "ops@example.com", "2.50", "--reason", "promo-1") == 0  # idempotent
    assert "already exists" in capsys.readouterr().out
    result = balance(db, tmp_path, capsys)
    assert result["grantedMicros"] == 7_500_000 and result["remainingMicros"] == 7_500_000
    assert run(db, tmp_path, "history", "ops@example.com", "--json") == 0
    entries = json.loads(capsys.readouterr().out)["entries"]
    assert sorted(e["amountMicros"] for e in entries) == [2_500_000, 5_000_000]
    assert {e["description"] for e in entries} == {"Credit grant"}
    assert run(db, tmp_path, "history", "ops@example.com") == 0
    assert capsys.readouterr().out.count("Credit grant") == 2
    assert run(db, tmp_path, "balance", "ops@example.com") == 0
    assert "remaining 7.500000" in capsys.readouterr().out


def test_default_reasons_are_unique(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, tmp_path, "grant", "ops@example.com", "1") == 0
    assert run(db, tmp_path, "grant", "ops@example.com", "1") == 0
    assert balance(db, tmp_path, capsys)["grantedMicros"] == 2_000_000


@pytest.mark.parametrize("amount", ["0", "-1", "abc", "1.0000001", "NaN", "1e30"])
def test_bad_amounts_are_refused(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str], amount: str) -> None:
    assert run(db, tmp_path, "grant", "ops@example.com", amount) == 2
    assert "amount" in capsys.readouterr().err
    assert balance(db, tmp_path, capsys)["grantedMicros"] == 0


def test_unknown_user(db: str, tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert run(db, tmp_path, "grant", "nobody@example.com", "5") == 1
    assert "no user with email" in capsys.readouterr().err
    assert run(db, tmp_path, "history", "nobody@example.com") == 1
