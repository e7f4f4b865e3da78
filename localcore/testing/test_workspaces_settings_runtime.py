"""Contract: encrypted-settings rows (ciphertext + key id, compare-and-swap replace) and workspace runtimes."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend, ConstraintViolation, Workspace, WorkspaceRuntime

UNKNOWN = str(uuid.uuid4())
BINARY = bytes(range(256)) + b"\x00\x00"


async def _workspace(backend: Backend) -> Workspace:
    ada = await backend.users.create_user(email="ada@example.com")
    return await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="app")


async def test_settings_store_ciphertext_and_key_ids_ordered_by_key(backend: Backend, clock: ManualClock) -> None:
    ws = backend.workspaces
    workspace = await _workspace(backend)
    await ws.put_workspace_settings(workspace.id, {"b_key": (BINARY, "k1"), "A_key": (b"a", "k1"), "a": (b"x", "k2")})
    listed = await ws.list_workspace_settings(workspace.id)
    assert [(s.key, s.value, s.key_id, s.updated_at) for s in listed] == [
        ("A_key", b"a", "k1", clock()), ("a", b"x", "k2", clock()), ("b_key", BINARY, "k1", clock())]
    assert all(s.workspace_id == workspace.id for s in listed)
    clock.advance(seconds=30)
    await ws.put_workspace_settings(workspace.id, {"a": (b"new", "k3")})
    one = await ws.get_workspace_setting(workspace.id, "a")
    assert one is not None and (one.value, one.key_id, one.updated_at) == (b"new", "k3", clock())
    assert await ws.get_workspace_setting(workspace.id, "missing") is None
    assert len(await ws.list_workspace_settings(workspace.id)) == 3


async def test_settings_need_an_existing_workspace(backend: Backend) -> None:
    for workspace_id in (UNKNOWN, "nope"):
        with pytest.raises(ConstraintViolation) as info:
            await backend.workspaces.put_workspace_settings(workspace_id, {"k": (b"v", "id")})
        assert info.value.kind == "foreign_key"


async def test_a_settings_write_is_all_or_nothing(backend: Backend) -> None:
    workspace = await _workspace(backend)
    with pytest.raises(ConstraintViolation) as info:
        await backend.workspaces.put_workspace_settings(
            workspace.id, {"good": (b"v", "id"), "bad": (b"v", None)})  # type: ignore[dict-item]
    assert info.value.kind == "not_null"
    assert await backend.workspaces.list_workspace_settings(workspace.id) == []


async def test_replacing_a_setting_is_a_compare_and_swap(backend: Backend, clock: ManualClock) -> None:
    ws = backend.workspaces
    workspace = await _workspace(backend)
    other = await _workspace_of(backend, "bob")
    await ws.put_workspace_settings(workspace.id, {"k": (b"old", "k1")})
    await ws.put_workspace_settings(other.id, {"k": (b"z", "k1")})
    written_at = clock()
    clock.advance(seconds=5)
    assert await ws.replace_workspace_setting(workspace.id, "k", expected=b"stale", value=b"x", key_id="k2") is False
    assert await ws.replace_workspace_setting(workspace.id, "k", expected=b"old", value=b"new", key_id="k2") is True
    current = await ws.get_workspace_setting(workspace.id, "k")
    assert current is not None and (current.value, current.key_id, current.updated_at) == (b"new", "k2", written_at)
    assert await ws.replace_workspace_setting(workspace.id, "gone", expected=b"", value=b"x", key_id="k2") is False
    everything = await ws.list_all_workspace_settings()
    assert sorted((s.workspace_id, s.key, s.value) for s in everything) == sorted(
        [(workspace.id, "k", b"new"), (other.id, "k", b"z")])
    assert [(s.workspace_id, s.key) for s in everything] == sorted((s.workspace_id, s.key) for s in everything)


async def _workspace_of(backend: Backend, name: str) -> Workspace:
    user = await backend.users.create_user(email=f"{name}@example.com")
    return await backend.workspaces.create_workspace(user_id=user.id, name=name, app_id="app")


async def test_reading_a_runtime_creates_a_ready_row(backend: Backend, clock: ManualClock) -> None:
    workspace = await _workspace(backend)
    runtime = await backend.workspaces.get_workspace_runtime(workspace.id)
    assert runtime == WorkspaceRuntime(workspace_id=workspace.id, state="ready", updated_at=clock())
    clock.advance(seconds=5)
    assert await backend.workspaces.get_workspace_runtime(workspace.id) == runtime
    assert await backend.workspaces.get_workspace_runtime(UNKNOWN) is None
    await backend.workspaces.delete_workspace(workspace.id)
    assert await backend.workspaces.get_workspace_runtime(workspace.id) is None


async def test_putting_a_runtime_merges_fields(backend: Backend, clock: ManualClock) -> None:
    ws = backend.workspaces
    workspace = await _workspace(backend)
    clock.advance(seconds=1)
    pending = await ws.put_workspace_runtime(workspace.id, {"state": "pending"})
    assert (pending.state, pending.updated_at, pending.volume_path) == ("pending", clock(), None)
    clock.advance(seconds=1)
    seen = datetime(2026, 2, 1, tzinfo=UTC)
    failed = await ws.put_workspace_runtime(workspace.id, {"state": "error", "last_error": "disk full",
                                                           "last_error_op": "provision", "sandbox_last_seen_at": seen})
    assert (failed.state, failed.last_error, failed.last_error_op, failed.sandbox_last_seen_at, failed.updated_at) == (
        "error", "disk full", "provision", seen, clock())
    ready = await ws.put_workspace_runtime(workspace.id, {"state": "ready", "volume_path": "/v/w", "last_error": None,
                                                          "last_error_op": None})
    assert (ready.state, ready.volume_path, ready.last_error, ready.sandbox_last_seen_at) == (
        "ready", "/v/w", None, seen)
    assert await ws.get_workspace_runtime(workspace.id) == ready


async def test_runtime_writes_are_checked(backend: Backend) -> None:
    ws = backend.workspaces
    workspace = await _workspace(backend)
    with pytest.raises(ValueError, match="unknown runtime fields"):
        await ws.put_workspace_runtime(workspace.id, {"workspace_id": "x"})
    with pytest.raises(ConstraintViolation):
        await ws.put_workspace_runtime(workspace.id, {"state": "provisioning"})
    with pytest.raises(LookupError):
        await ws.put_workspace_runtime(UNKNOWN, {"state": "pending"})
    await ws.delete_workspace(workspace.id)
    with pytest.raises(LookupError):
        await ws.put_workspace_runtime(workspace.id, {"state": "pending"})
