"""``[audit] retention_days`` / ``AUDIT_RETENTION_DAYS``, the cursor codec, and the memory audit store's
raw-event window (what an export or import of the memory backend reads and writes)."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path

import pytest

from backends.memory import MemoryBackend
from localcore.audit.cursor import BadCursor, CursorCodec
from localcore.config import load_config
from localcore.contract.audit import AuditEvent, AuditRecord
from localcore.contract.clock import ManualClock
from localcore.errors import ConfigError

BASE = {"LOCALCORE_ENV": "test"}


def test_retention_defaults_to_a_year_and_env_beats_toml(tmp_path: Path) -> None:
    assert load_config(None, BASE).audit_retention_days == 365
    toml = tmp_path / "boring.app.toml"
    toml.write_text("[audit]\nretention_days = 30\n")
    assert load_config(toml, BASE).audit_retention_days == 30
    assert load_config(toml, {**BASE, "AUDIT_RETENTION_DAYS": "90"}).audit_retention_days == 90


@pytest.mark.parametrize("value", ["0", "-5", "many", "36501"])
def test_a_bad_retention_stops_the_start(value: str) -> None:
    with pytest.raises(ConfigError) as refused:
        load_config(None, {**BASE, "AUDIT_RETENTION_DAYS": value})
    assert any("retention" in problem for problem in refused.value.problems)


def test_cursors_round_trip_and_another_secret_refuses_them() -> None:
    codec = CursorCodec("secret-one")
    at = datetime(2026, 5, 4, 3, 2, 1, 123456, tzinfo=UTC)
    cursor = (at, "0b1c2d3e-4f50-4a6b-8c7d-9e0f1a2b3c4d")
    assert codec.decode(codec.encode(cursor)) == cursor
    with pytest.raises(BadCursor):
        CursorCodec("secret-two").decode(codec.encode(cursor))
    for bad in ("", "====", "djEuMS4yLjM", "é", "A" * 201):
        with pytest.raises(BadCursor):
            codec.decode(bad)


async def test_the_memory_store_lists_and_inserts_raw_events() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    source = MemoryBackend(clock)
    first = await source.audit.append(AuditRecord("auth.sign_in", actor_id="a"))
    clock.advance(seconds=1)
    second = await source.audit.append(AuditRecord("auth.sign_out", actor_id="a", details={"k": 1}))
    rows: list[AuditEvent] = source.audit.all_events()
    assert rows == [first, second]  # oldest first
    target = MemoryBackend(clock)
    target.audit.insert_events(rows)
    assert target.audit.all_events() == rows
    assert await target.audit.list_for_user("a", limit=10) == [second, first]
