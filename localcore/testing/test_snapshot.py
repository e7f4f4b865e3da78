"""Contract: ``SnapshotSource`` / ``SnapshotSink`` (``localcore.contract.snapshot``) on every backend.

A snapshot lists every table (parents first) and reads one moment of the backend; a restore loads rows in
one transaction that commits whole or leaves everything as it was; values keep their exact type and value
(microseconds, bytes, integers past 2^53, JSON) through the backend's own storage.
"""

from __future__ import annotations

import io

import pytest

from backends.memory.snapshot import SCHEMA_VERSION as MEMORY_SCHEMA_VERSION
from backends.memory.snapshot import TABLES as MEMORY_TABLES
from localcore.clock import ManualClock
from localcore.contract.backend import Backend
from localcore.contract.snapshot import SnapshotError, SnapshotSink, SnapshotSource
from localcore.testing.snapshot_support import BIG, populate, rebuild_file, tables_of
from localcore.transfer import TransferError, export_to, import_from

EXPECTED_PARENTS = {"accounts": "users", "sessions": "users", "workspace_members": "workspaces",
                    "workspace_settings": "workspaces", "workspace_invites": "workspaces"}


def _source(backend: Backend) -> SnapshotSource:
    assert isinstance(backend, SnapshotSource) and isinstance(backend, SnapshotSink)
    return backend


async def test_a_snapshot_lists_every_table_parents_first(backend: Backend) -> None:
    async with _source(backend).snapshot() as snapshot:
        names = [t.name for t in snapshot.tables]
        version = snapshot.schema_version
    assert "schema_migrations" not in names
    assert set(names) == {t.spec.name for t in MEMORY_TABLES}
    for child, parent in EXPECTED_PARENTS.items():
        assert names.index(parent) < names.index(child)
    assert names.index("users") < names.index("workspaces")
    if backend.kind != "memory":
        assert version == await backend.schema_version()


async def test_the_sql_schema_and_the_memory_tables_agree(backend: Backend) -> None:
    """Every SQL table is registered in backends/memory/snapshot.py with the same columns, and memory says
    it mirrors the newest migration (a new migration's table must be registered there too)."""
    async with _source(backend).snapshot() as snapshot:
        columns = {t.name: [c for c, _ in t.columns] for t in snapshot.tables}
        keys = {t.name: t.key for t in snapshot.tables}
        version = snapshot.schema_version
    assert columns == {t.spec.name: [c for c, _ in t.spec.columns] for t in MEMORY_TABLES}
    assert keys == {t.spec.name: t.spec.key for t in MEMORY_TABLES}
    assert version == MEMORY_SCHEMA_VERSION


async def test_populate_reaches_every_table(backend: Backend, clock: ManualClock) -> None:
    await populate(backend, clock)
    empty = [name for name, rows in (await tables_of(backend)).items() if not rows]
    assert empty == []


async def test_export_then_restore_over_itself_keeps_every_value(backend: Backend, clock: ManualClock) -> None:
    ids = await populate(backend, clock)
    before = await tables_of(backend)
    out = io.BytesIO()
    await export_to(_source(backend), out, backend=backend.kind)
    result = await import_from(backend, io.BytesIO(out.getvalue()), replace=True)
    assert result.replaced and result.balances_checked == 2
    assert await tables_of(backend) == before
    user = await backend.users.get_user(ids["ann"])
    assert user is not None and user.email_verified is True and user.created_at.microsecond == 0
    setting = await backend.workspaces.get_workspace_setting(ids["workspace"], "API_KEY")
    assert setting is not None and setting.value == bytes(range(256))
    usage = await backend.metering.get_usage("usage-1")  # type: ignore[attr-defined]
    assert usage.input_tokens == 2**40 and usage.metadata == {"reservationId": "r-x", "note": "é"}
    replay = await backend.idempotency.claim("idem-1", now=clock())
    assert replay is not None and replay.response_body == {"ok": True, "n": 2**60 + 1, "list": [None, 1.5]}
    purchase = await backend.metering.get_purchase("order-1")  # type: ignore[attr-defined]
    assert purchase.amount_micros == BIG - 10_000_000 and purchase.test_mode is True


async def test_a_snapshot_is_one_moment(backend: Backend, clock: ManualClock) -> None:
    await populate(backend, clock)
    async with _source(backend).snapshot() as snapshot:
        await backend.users.create_user(email="late@example.com")
        emails = [row["email"] async for batch in snapshot.rows("users") for row in batch]
    assert sorted(emails) == ["ann@example.com", "bob@example.com"]
    assert await backend.users.get_user_by_email("late@example.com") is not None


async def test_a_restore_that_fails_leaves_everything_as_it_was(backend: Backend, clock: ManualClock) -> None:
    await populate(backend, clock)
    before = await tables_of(backend)
    sink = _source(backend)
    assert isinstance(sink, SnapshotSink)
    with pytest.raises(RuntimeError, match="stop"):
        async with sink.restore() as writer:
            assert not await writer.is_empty()
            await writer.clear()
            await writer.insert("users", [("id", "text"), ("name", "text"), ("email", "text"),
                                          ("email_verified", "boolean"), ("image", "text"),
                                          ("created_at", "timestamp"), ("updated_at", "timestamp")],
                                [["00000000-0000-4000-8000-000000000001", "X", "x@example.com", False, None,
                                  "2026-01-01T00:00:00.000000+00:00", "2026-01-01T00:00:00.000000+00:00"]])
            assert (await writer.counts())["users"] == 1
            raise RuntimeError("stop")
    assert await tables_of(backend) == before


async def test_a_sink_refuses_what_it_cannot_hold(backend: Backend) -> None:
    sink = _source(backend)
    assert isinstance(sink, SnapshotSink)
    cases = [
        ("no_such_table", [("id", "text")], [["x"]], "no table"),
        ("users", [("id", "text"), ("shoe_size", "integer")], [["x", 1]], "no column"),
        ("rate_limits", [("key", "text"), ("window_start", "timestamp"), ("reset_at", "timestamp"),
                         ("count", "integer")], [["k", "yesterday", "2026-01-01T00:00:00+00:00", 1]], "ISO 8601"),
        ("rate_limits", [("key", "text"), ("window_start", "timestamp"), ("reset_at", "timestamp"),
                         ("count", "integer")], [["k", None, None, "seven"]], "integer"),
    ]
    for table, columns, rows, message in cases:
        with pytest.raises(SnapshotError, match=message):
            async with sink.restore() as writer:
                await writer.insert(table, columns, rows)  # type: ignore[arg-type]
    assert all(not rows for rows in (await tables_of(backend)).values())


async def test_balances_read_the_same_after_a_restore(backend: Backend, clock: ManualClock) -> None:
    ids = await populate(backend, clock)
    before = await backend.metering.get_balance(ids["ann"])
    out = io.BytesIO()
    await export_to(_source(backend), out, backend=backend.kind)
    await import_from(backend, io.BytesIO(out.getvalue()), replace=True)
    assert await backend.metering.get_balance(ids["ann"]) == before
    clock.advance(days=31)  # the promo grant and the hold have expired on both sides alike
    later = await backend.metering.get_balance(ids["ann"])
    assert later.granted_micros == before.granted_micros - 500_000


async def test_a_value_the_backend_cannot_keep_is_refused_never_dropped(backend: Backend, clock: ManualClock) -> None:
    """No store writes provider tokens into ``accounts``; SQL keeps one it is given, memory (which has no
    place for it) refuses the row by name instead of losing the value."""
    ids = await populate(backend, clock)
    lines = (await _exported(backend)).splitlines(keepends=True)
    at = next(i for i, line in enumerate(lines) if b'"t":"accounts"' in line and b'"password":null' in line)
    lines[at] = lines[at].replace(b'"access_token":null', b'"access_token":"ya29.secret"')
    forged = rebuild_file(lines[:-1])
    if backend.kind == "memory":
        with pytest.raises(TransferError, match=f"line {at + 1}: accounts.access_token: the memory backend"):
            await import_from(backend, io.BytesIO(forged), replace=True)
        assert await backend.users.get_account("google", "google-123") is not None
        return
    await import_from(backend, io.BytesIO(forged), replace=True)
    async with _source(backend).snapshot() as snapshot:
        tokens = [r["access_token"] async for batch in snapshot.rows("accounts") for r in batch
                  if r["user_id"] == ids["bob"]]
    assert tokens == ["ya29.secret"]


async def _exported(backend: Backend) -> bytes:
    out = io.BytesIO()
    await export_to(_source(backend), out, backend=backend.kind)
    return out.getvalue()
