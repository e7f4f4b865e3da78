"""``Backend.identity_version`` contract: it moves on every write an identity (or a membership lookup) is
built from, in this process and (shared storage) in another one, and stays put otherwise; an import moves it
whatever it loads (its counter is not data: it is neither exported nor loaded). On Postgres: a lost listener
connection answers None until it has reconnected and re-read the counter, which catches a change made
while nobody listened."""

from __future__ import annotations

import asyncio
import io
import time
from collections.abc import Awaitable, Callable
from datetime import timedelta

import asyncpg
import pytest

from backends import open_backend
from backends.postgres.listener import APPLICATION_NAME
from localcore.clock import ManualClock
from localcore.contract.audit import AuditRecord
from localcore.contract.snapshot import SnapshotSource
from localcore.store import Backend
from localcore.testing.plugin import PostgresServer
from localcore.testing.test_sessions import h
from localcore.transfer import export_to, import_from

SETTLE_SECONDS = 5.0


async def version_of(backend: Backend, timeout: float = SETTLE_SECONDS) -> int:
    """The version once the backend can vouch for it (a Postgres listener connects on first use)."""
    deadline = time.monotonic() + timeout
    while True:
        version = await backend.identity_version()
        if version is not None:
            return version
        assert time.monotonic() < deadline, "identity_version stayed None"
        await asyncio.sleep(0.01)


async def moved_from(backend: Backend, before: int, timeout: float = SETTLE_SECONDS) -> int:
    deadline = time.monotonic() + timeout
    while True:
        version = await backend.identity_version()
        if version is not None and version != before:
            return version
        assert time.monotonic() < deadline, f"identity_version stayed {before}"
        await asyncio.sleep(0.01)


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
            try:
                await moved_from(second, before)
            except AssertionError:
                pytest.fail(f"{label} on one backend did not move the other's identity version")


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
        try:
            await moved_from(second, before)
        except AssertionError:
            pytest.fail("an import on one backend did not move the other's identity version")


# ----------------------------------------------------------------------------- Postgres: the listener


async def _listener_pids(admin: asyncpg.Connection, database: str) -> list[int]:
    rows = await admin.fetch("SELECT pid FROM pg_stat_activity WHERE datname = $1 AND application_name = $2",
                             database, APPLICATION_NAME)
    return [int(r["pid"]) for r in rows]


async def _until_none(backend: Backend) -> None:
    deadline = time.monotonic() + SETTLE_SECONDS
    while await backend.identity_version() is not None:
        assert time.monotonic() < deadline, "the listener never noticed it was cut off"
        await asyncio.sleep(0.005)


async def test_a_dropped_listener_bypasses_until_it_rechecks_the_counter(
        postgres_server: PostgresServer, postgres_admin_url: str, clock: ManualClock) -> None:
    url = await postgres_server.create_database()
    database = url.rsplit("/", 1)[-1]
    admin = await asyncpg.connect(postgres_admin_url)
    try:
        async with await open_backend(url, clock=clock) as reader, await open_backend(url, clock=clock) as writer:
            user = await writer.users.create_user(email="ada@example.com", name="Ada")
            await writer.sessions.create_session(token_hash=h("t"), user_id=user.id,
                                                 expires_at=clock() + timedelta(days=1))
            # The writer's pool keeps this connection for the writes below; it never asks for the version,
            # so the reader's is the one listener on the database.
            await writer.sessions.get_session(h("t"))
            quiet = await version_of(reader)
            (pid,) = await _listener_pids(admin, database)

            # 1. Cut off with nothing written meanwhile: None while down, the same version once back.
            await admin.execute("SELECT pg_terminate_backend($1)", pid)
            await _until_none(reader)
            assert await version_of(reader) == quiet

            # 2. Cut off, and kept off (no new connection to the database) while the session is revoked:
            #    the notification goes to nobody; the counter check on reconnect must notice.
            await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS false')
            try:
                (pid,) = await _listener_pids(admin, database)
                await admin.execute("SELECT pg_terminate_backend($1)", pid)
                await _until_none(reader)
                assert await writer.sessions.delete_session(h("t"))
                await asyncio.sleep(0.3)  # the listener keeps trying (and failing) to reconnect
                assert await reader.identity_version() is None
            finally:
                await admin.execute(f'ALTER DATABASE "{database}" ALLOW_CONNECTIONS true')
            assert await version_of(reader) != quiet
    finally:
        await admin.close()
        await postgres_server.drop_database(url)

