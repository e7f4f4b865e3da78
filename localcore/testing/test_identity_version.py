"""``Backend.identity_version`` contract: it moves on every write an identity (or a membership lookup) is
built from, in this process and (shared storage) in another one, and stays put otherwise; an import moves it
whatever it loads (its counter is not data: it is neither exported nor loaded). "In another one" means at
once: the other backend's very next call reflects a change the first one committed, with no settling time.
An unreachable storage answers None and never raises."""

from __future__ import annotations

import asyncio
import io
from collections.abc import Awaitable, Callable
from datetime import timedelta

import pytest

from backends import open_backend
from localcore.clock import ManualClock
from localcore.contract.audit import AuditRecord
from localcore.contract.snapshot import SnapshotSource
from localcore.store import Backend
from localcore.testing.plugin import PostgresServer
from localcore.testing.test_sessions import h
from localcore.transfer import export_to, import_from


async def version_of(backend: Backend) -> int:
    version = await backend.identity_version()
    assert version is not None, "identity_version could not vouch for a reachable storage"
    return version


async def _fixture(backend: Backend, clock: ManualClock) -> tuple[str, str, str]:
    """A user with four sessions and a workspace, and a second user."""
    user = await backend.users.create_user(email="ada@example.com", name="Ada")
    other = await backend.users.create_user(email="bob@example.com", name="Bob")
    for token in ("one", "two", "three", "four"):
        await backend.sessions.create_session(token_hash=h(token), user_id=user.id,
                                              expires_at=clock() + timedelta(days=30))
    workspace = await backend.workspaces.create_workspace(user_id=user.id, name="W", app_id="app")
    return user.id, other.id, workspace.id


def _writes(backend: Backend, clock: ManualClock, user: str, other: str,
            workspace: str) -> list[tuple[str, Callable[[], Awaitable[object]]]]:
    s, u, w = backend.sessions, backend.users, backend.workspaces
    found: list[str] = []
    audit = AuditRecord(action="test.write", actor_id=user)

    async def accept_an_invite() -> None:
        minted = await w.create_invite(workspace, email="bob@example.com", role="viewer", invited_by=user)
        await w.accept_invite(workspace, minted.invite.id, other, audit=audit)

    async def slide() -> None:
        session = await s.get_session(h("one"))
        assert session is not None
        found.append(session[0].id)
        await s.extend_session(session[0].id, clock() + timedelta(days=31))

    return [
        ("slide a session", slide),
        ("rename", lambda: u.update_user(user, name="Ada L.")),
        ("verify the email", lambda: u.update_user(user, email_verified=True)),
        ("write settings (first time)", lambda: u.put_user_settings(user, "app", display_name="A")),
        ("write settings again", lambda: u.put_user_settings(user, "app", settings={"k": 1})),
        ("add a member", lambda: w.add_member(workspace, other, "viewer")),
        ("change a role", lambda: w.update_member_role(workspace, other, "editor")),
        ("remove a member", lambda: w.remove_member(workspace, other)),
        ("accept an invite (audited)", accept_an_invite),
        ("remove a member (audited)", lambda: w.remove_member(workspace, other, audit=audit)),
        ("create a workspace", lambda: w.create_workspace(user_id=other, name="B", app_id="app")),
        ("rename a workspace", lambda: w.update_workspace(workspace, name="W2")),
        ("delete a workspace", lambda: w.delete_workspace(workspace)),
        ("sign out one session", lambda: s.delete_session(h("one"))),
        ("sign out another (audited)", lambda: s.delete_session(h("three"), audit=audit)),
        ("revoke the others", lambda: s.delete_user_sessions(user, except_token_hash=h("two"))),
        ("sweep expired sessions", _expire_and_sweep(backend, clock)),
        ("delete the account (audited)", lambda: u.delete_user_completely(user, audit=audit)),
    ]


def _expire_and_sweep(backend: Backend, clock: ManualClock) -> Callable[[], Awaitable[object]]:
    async def sweep() -> int:
        return await backend.sessions.delete_expired_sessions(clock() + timedelta(days=400))
    return sweep


async def test_every_identity_write_moves_the_version(backend: Backend, clock: ManualClock) -> None:
    user, other, workspace = await _fixture(backend, clock)
    for label, write in _writes(backend, clock, user, other, workspace):
        before = await version_of(backend)
        await write()
        after = await backend.identity_version()
        assert after is not None and after != before, f"{label} did not move the identity version"


async def test_reads_leave_the_version_alone(backend: Backend, clock: ManualClock) -> None:
    user, _other, workspace = await _fixture(backend, clock)
    before = await version_of(backend)
    await backend.sessions.get_session(h("one"))
    await backend.users.get_user_settings(user, "app")
    await backend.workspaces.get_member_role(workspace, user)
    await backend.sessions.list_sessions(user)
    assert await backend.identity_version() == before


@pytest.mark.shared_storage  # memory lives in one process
async def test_another_process_sees_every_identity_write(backend: Backend, backend_url: str,
                                                         clock: ManualClock) -> None:
    user, other, workspace = await _fixture(backend, clock)
    async with await open_backend(backend_url, clock=clock) as second:
        for label, write in _writes(backend, clock, user, other, workspace):
            before = await version_of(second)
            await write()
            assert await version_of(second) != before, \
                f"{label} on one backend did not move the other's identity version at once"


async def _export_of_one_signed_in_user(clock: ManualClock) -> bytes:
    """An export holding a user and a session only: rows whose insertion moves the version by itself on no
    backend (a new user or session needs no bump), so only the import's own bump can move it."""
    async with await open_backend("memory://", clock=clock) as source:
        user = await source.users.create_user(email="ada@example.com", name="Ada")
        await source.sessions.create_session(token_hash=h("t"), user_id=user.id,
                                             expires_at=clock() + timedelta(days=1))
        assert isinstance(source, SnapshotSource)
        out = io.BytesIO()
        await export_to(source, out, backend=source.kind)
        return out.getvalue()


async def test_an_import_moves_the_version(backend: Backend, clock: ManualClock) -> None:
    exported = await _export_of_one_signed_in_user(clock)
    before = await version_of(backend)
    await import_from(backend, io.BytesIO(exported))
    after = await version_of(backend)
    assert after != before and await backend.sessions.get_session(h("t")) is not None
    await import_from(backend, io.BytesIO(exported), replace=True)
    assert await version_of(backend) != after


@pytest.mark.shared_storage  # memory lives in one process
async def test_another_process_sees_an_import(backend: Backend, backend_url: str, clock: ManualClock) -> None:
    exported = await _export_of_one_signed_in_user(clock)
    async with await open_backend(backend_url, clock=clock) as second:
        before = await version_of(second)
        await import_from(backend, io.BytesIO(exported))
        assert await version_of(second) != before, "an import on one backend did not move the other's version"


# ----------------------------------------------------------------------------- Postgres


async def test_a_transaction_bumps_the_postgres_counter_once_and_writers_never_deadlock_on_it(
        postgres_server: PostgresServer, clock: ManualClock) -> None:
    """The counter is bumped at commit by deferred triggers: once per transaction however many rows it
    changes, and concurrent writers (from two pools) only queue on it for the commit itself."""
    url = await postgres_server.create_database()
    try:
        async with await open_backend(url, clock=clock) as one, await open_backend(url, clock=clock) as two:
            users = [await one.users.create_user(email=f"u{i}@example.com", name=f"U{i}") for i in range(20)]
            for user in users:
                for token in ("a", "b", "c"):
                    await one.sessions.create_session(token_hash=h(f"{user.id}{token}"), user_id=user.id,
                                                      expires_at=clock() + timedelta(days=1))
            before = await version_of(two)
            assert await one.sessions.delete_user_sessions(users[0].id) == 3
            assert await version_of(two) == before + 1

            async def churn(i: int) -> None:
                backend = (one, two)[i % 2]
                user = users[i]
                await backend.users.update_user(user.id, name=f"V{i}")
                await backend.users.put_user_settings(user.id, "app", settings={"i": i})
                await backend.sessions.delete_user_sessions(user.id)

            base = await version_of(one)
            await asyncio.gather(*(churn(i) for i in range(1, 20)))
            assert await version_of(one) == base + 19 * 3
    finally:
        await postgres_server.drop_database(url)
