"""Contract: workspace invites — creation, the acceptance check order, the lockout, never lowering a role on
accept, non-UUID ids matching nothing (docs/compatibility.md, fixes 6 and 8)."""

from __future__ import annotations

import asyncio
import dataclasses
import hashlib
import uuid
from datetime import timedelta

import pytest

from backends import open_backend
from localcore.clock import ManualClock
from localcore.store import AcceptedInvite, Backend, ConstraintViolation, InviteError, User, Workspace
from localcore.testing.workspace_support import raw_workspaces

UNKNOWN = str(uuid.uuid4())


async def _setup(backend: Backend) -> tuple[Workspace, User, User]:
    ada = await backend.users.create_user(email="ada@example.com", name="Ada")
    bob = await backend.users.create_user(email="bob@example.com", name="Bob")
    workspace = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="app")
    return workspace, ada, bob


async def _accept_code(backend: Backend, workspace_id: str, invite_id: str, user_id: str) -> str:
    with pytest.raises(InviteError) as refused:
        await backend.workspaces.accept_invite(workspace_id, invite_id, user_id)
    return refused.value.code


async def test_create_stores_only_the_token_hash_and_a_normalised_email(backend: Backend, clock: ManualClock) -> None:
    workspace, ada, _ = await _setup(backend)
    created = await backend.workspaces.create_invite(workspace.id, email="  Bob@Example.COM ", role="editor",
                                                     invited_by=ada.id, ttl_days=3)
    invite, token = created.invite, created.raw_token
    assert len(token) == 43 and "=" not in token  # 32 random bytes, base64url
    assert invite.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert (invite.email, invite.role, invite.workspace_id, invite.created_by) == (
        "bob@example.com", "editor", workspace.id, ada.id)
    assert invite.expires_at == clock() + timedelta(days=3) and invite.created_at == clock()
    assert (invite.accepted_at, invite.failed_attempts, invite.locked_until) == (None, 0, None)
    stored = await raw_workspaces(backend).get_invite(workspace.id, invite.id)
    assert stored == invite
    assert token not in repr(dataclasses.asdict(stored))
    assert await backend.workspaces.get_invite_by_token_hash(invite.token_hash) == invite
    assert await backend.workspaces.get_invite_by_token_hash(hashlib.sha256(b"other").hexdigest()) is None
    default_ttl = await backend.workspaces.create_invite(workspace.id, email="c@example.com", role="viewer",
                                                         invited_by=None)
    assert default_ttl.invite.expires_at == clock() + timedelta(days=7) and default_ttl.invite.created_by is None


async def test_create_refuses_unknown_workspaces_and_bad_roles(backend: Backend) -> None:
    workspace, ada, _ = await _setup(backend)
    for workspace_id in (UNKNOWN, "nope"):
        with pytest.raises(ConstraintViolation) as unknown:
            await backend.workspaces.create_invite(workspace_id, email="x@example.com", role="viewer",
                                                   invited_by=ada.id)
        assert unknown.value.kind == "foreign_key"
    with pytest.raises(ConstraintViolation) as bad_role:
        await backend.workspaces.create_invite(workspace.id, email="x@example.com", role="admin", invited_by=ada.id)
    assert bad_role.value.kind == "check"


async def test_listing_is_oldest_first_and_scoped(backend: Backend, clock: ManualClock) -> None:
    workspace, ada, bob = await _setup(backend)
    other = await backend.workspaces.create_workspace(user_id=bob.id, name="Other", app_id="app")
    first = await backend.workspaces.create_invite(workspace.id, email="a@example.com", role="viewer",
                                                   invited_by=ada.id)
    clock.advance(seconds=1)
    second = await backend.workspaces.create_invite(workspace.id, email="a@example.com", role="owner",
                                                    invited_by=ada.id)
    elsewhere = await backend.workspaces.create_invite(other.id, email="a@example.com", role="viewer",
                                                       invited_by=bob.id)
    assert [i.id for i in await backend.workspaces.list_invites(workspace.id)] == [first.invite.id, second.invite.id]
    assert await raw_workspaces(backend).get_invite(workspace.id, elsewhere.invite.id) is None
    assert await backend.workspaces.revoke_invite(workspace.id, elsewhere.invite.id) is False
    assert await backend.workspaces.revoke_invite(workspace.id, first.invite.id) is True
    assert await backend.workspaces.revoke_invite(workspace.id, first.invite.id) is False
    assert await backend.workspaces.get_invite_by_token_hash(first.invite.token_hash) is None
    assert [i.id for i in await backend.workspaces.list_invites(workspace.id)] == [second.invite.id]


async def test_accept_joins_with_the_invite_role(backend: Backend, clock: ManualClock) -> None:
    workspace, ada, bob = await _setup(backend)
    created = await backend.workspaces.create_invite(workspace.id, email="BOB@example.com", role="editor",
                                                     invited_by=ada.id)
    clock.advance(seconds=10)
    accepted = await backend.workspaces.accept_invite(workspace.id, created.invite.id, bob.id)
    assert isinstance(accepted, AcceptedInvite)
    assert accepted.invite.accepted_at == clock()
    assert (accepted.member.user_id, accepted.member.role, accepted.member.created_at) == (bob.id, "editor", clock())
    assert await backend.workspaces.get_member_role(workspace.id, bob.id) == "editor"
    stored = await raw_workspaces(backend).get_invite(workspace.id, created.invite.id)
    assert stored is not None and stored.accepted_at == clock()


async def test_accept_checks_in_order(backend: Backend, clock: ManualClock) -> None:
    workspace, ada, bob = await _setup(backend)
    ws = raw_workspaces(backend)
    other = await ws.create_workspace(user_id=bob.id, name="Other", app_id="app")
    invite = (await ws.create_invite(workspace.id, email="bob@example.com", role="viewer", invited_by=ada.id)).invite
    assert await _accept_code(backend, other.id, invite.id, bob.id) == "invite_not_found"
    assert await _accept_code(backend, workspace.id, UNKNOWN, bob.id) == "invite_not_found"
    assert await _accept_code(backend, workspace.id, "junk", bob.id) == "invite_not_found"
    assert await _accept_code(backend, workspace.id, invite.id, ada.id) == "invite_email_mismatch"
    assert await _accept_code(backend, workspace.id, invite.id, UNKNOWN) == "invite_email_mismatch"
    # Expiry is checked before the email, and the boundary (expires_at == now) counts as expired.
    clock.now = invite.expires_at
    assert await _accept_code(backend, workspace.id, invite.id, ada.id) == "invite_expired"
    clock.now = invite.expires_at - timedelta(microseconds=1)
    await ws.accept_invite(workspace.id, invite.id, bob.id)
    # Accepted is checked before expiry.
    clock.now = invite.expires_at + timedelta(days=1)
    assert await _accept_code(backend, workspace.id, invite.id, ada.id) == "invite_already_accepted"
    assert await ws.get_member_role(workspace.id, ada.id) == "owner"


async def test_accept_never_lowers_a_role(backend: Backend) -> None:
    workspace, ada, bob = await _setup(backend)
    ws = raw_workspaces(backend)
    # The only owner accepting a viewer invite stays owner (the last-owner rule is not bypassed).
    to_ada = await ws.create_invite(workspace.id, email="ada@example.com", role="viewer", invited_by=ada.id)
    kept = await ws.accept_invite(workspace.id, to_ada.invite.id, ada.id)
    assert kept.member.role == "owner"
    await ws.add_member(workspace.id, bob.id, "viewer")
    raised = await ws.create_invite(workspace.id, email="bob@example.com", role="editor", invited_by=ada.id)
    assert (await ws.accept_invite(workspace.id, raised.invite.id, bob.id)).member.role == "editor"
    lower = await ws.create_invite(workspace.id, email="bob@example.com", role="viewer", invited_by=ada.id)
    assert (await ws.accept_invite(workspace.id, lower.invite.id, bob.id)).member.role == "editor"
    assert {m.user_id: m.role for m in await ws.list_members(workspace.id)} == {ada.id: "owner", bob.id: "editor"}


async def test_an_invite_into_a_deleted_workspace_cannot_be_accepted(backend: Backend) -> None:
    workspace, ada, bob = await _setup(backend)
    invite = await backend.workspaces.create_invite(workspace.id, email="bob@example.com", role="viewer",
                                                    invited_by=ada.id)
    await backend.workspaces.delete_workspace(workspace.id)
    assert await _accept_code(backend, workspace.id, invite.invite.id, bob.id) == "invite_not_found"
    assert await backend.workspaces.get_member_role(workspace.id, bob.id) is None


async def _race_accept(first: Backend, second: Backend, workspace_id: str, invite_id: str,
                       user_id: str) -> list[str]:
    results = await asyncio.gather(first.workspaces.accept_invite(workspace_id, invite_id, user_id),
                                   second.workspaces.accept_invite(workspace_id, invite_id, user_id),
                                   return_exceptions=True)
    out = []
    for result in results:
        if isinstance(result, InviteError):
            out.append(result.code)
        elif isinstance(result, BaseException):
            raise result
        else:
            out.append("ok")
    return sorted(out)


@pytest.mark.parametrize("round_", range(5))
async def test_concurrent_accepts_have_one_winner(backend: Backend, round_: int) -> None:
    workspace, ada, bob = await _setup(backend)
    invite = await backend.workspaces.create_invite(workspace.id, email="bob@example.com", role="editor",
                                                    invited_by=ada.id)
    outcome = await _race_accept(backend, backend, workspace.id, invite.invite.id, bob.id)
    assert outcome == ["invite_already_accepted", "ok"]
    members = await raw_workspaces(backend).list_members(workspace.id)
    assert sorted(m.user_id for m in members) == sorted([ada.id, bob.id])


@pytest.mark.shared_storage
@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_accepts_across_two_handles(backend: Backend, backend_url: str, clock: ManualClock,
                                                     round_: int) -> None:
    workspace, ada, bob = await _setup(backend)
    invite = await backend.workspaces.create_invite(workspace.id, email="bob@example.com", role="editor",
                                                    invited_by=ada.id)
    async with await open_backend(backend_url, clock=clock) as other:
        outcome = await _race_accept(backend, other, workspace.id, invite.invite.id, bob.id)
    assert outcome == ["invite_already_accepted", "ok"]
    assert len(await raw_workspaces(backend).list_members(workspace.id)) == 2


async def test_failed_attempts_lock_at_fifty_for_an_hour(backend: Backend, clock: ManualClock) -> None:
    workspace, ada, _ = await _setup(backend)
    ws = raw_workspaces(backend)
    invite = (await ws.create_invite(workspace.id, email="bob@example.com", role="viewer", invited_by=ada.id)).invite
    for expected in range(1, 50):
        state = await ws.increment_invite_failed_attempts(invite.id)
        assert (state.failed_attempts, state.locked_until) == (expected, None)
    locked = await ws.increment_invite_failed_attempts(invite.id)
    assert (locked.failed_attempts, locked.locked_until) == (50, clock() + timedelta(hours=1))
    stored = await ws.get_invite(workspace.id, invite.id)
    assert stored is not None and stored.failed_attempts == 50 and stored.locked_until == clock() + timedelta(hours=1)
    # After the hour the counter is not reset: the next counted failure re-locks at once.
    clock.advance(hours=2)
    relocked = await ws.increment_invite_failed_attempts(invite.id)
    assert (relocked.failed_attempts, relocked.locked_until) == (51, clock() + timedelta(hours=1))
    await ws.reset_invite_failed_attempts(invite.id)
    cleared = await ws.get_invite(workspace.id, invite.id)
    assert cleared is not None and (cleared.failed_attempts, cleared.locked_until) == (0, None)
    assert await ws.increment_invite_failed_attempts(UNKNOWN) == (await ws.increment_invite_failed_attempts("x"))


async def test_concurrent_failures_are_all_counted(backend: Backend, clock: ManualClock) -> None:
    workspace, ada, _ = await _setup(backend)
    ws = raw_workspaces(backend)
    invite = (await ws.create_invite(workspace.id, email="bob@example.com", role="viewer", invited_by=ada.id)).invite
    states = await asyncio.gather(*(ws.increment_invite_failed_attempts(invite.id) for _ in range(60)))
    assert sorted(s.failed_attempts for s in states) == list(range(1, 61))
    assert [s.locked_until is not None for s in sorted(states, key=lambda s: s.failed_attempts)] == (
        [False] * 49 + [True] * 11)
