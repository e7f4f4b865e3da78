"""Contract: account deletion seen from the workspace side (docs/contract.md, "The stores, briefly").

``test_users.py`` covers the user-side cascade; these check that every workspace row kind (invites,
encrypted settings, runtimes, memberships) follows a hard-deleted workspace, that transferred workspaces
keep theirs, and that soft-deleted workspaces are handed over too.
"""

from __future__ import annotations

from localcore.clock import ManualClock
from localcore.store import Backend, User, Workspace
from localcore.testing.workspace_support import raw_workspaces


async def _user(backend: Backend, name: str) -> User:
    return await backend.users.create_user(email=f"{name}@example.com", name=name.title())


async def _fill(backend: Backend, workspace: Workspace, inviter: User) -> None:
    ws = raw_workspaces(backend)
    await ws.create_invite(workspace.id, email="someone@example.com", role="viewer", invited_by=inviter.id)
    await ws.put_workspace_settings(workspace.id, {"token": (b"ciphertext", "kid")})
    await ws.put_workspace_runtime(workspace.id, {"state": "ready", "volume_path": f"/v/{workspace.id}"})


async def test_a_hard_deleted_workspace_takes_its_invites_settings_runtime_and_members(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, viewer = await _user(backend, "ada"), await _user(backend, "viewer")
    alone = await ws.create_workspace(user_id=ada.id, name="Alone", app_id="app", is_default=True)
    watched = await ws.create_workspace(user_id=ada.id, name="Watched", app_id="app")
    await ws.add_member(watched.id, viewer.id, "viewer")
    for workspace in (alone, watched):
        await _fill(backend, workspace, ada)

    assert await backend.users.delete_user_completely(ada.id) is True

    for workspace in (alone, watched):
        assert await ws.get_workspace(workspace.id) is None
        assert await ws.list_members(workspace.id) == []
        assert await ws.list_invites(workspace.id) == []
        assert await ws.list_workspace_settings(workspace.id) == []
        assert await ws.get_workspace_runtime(workspace.id) is None
    assert all(s.workspace_id not in (alone.id, watched.id) for s in await ws.list_all_workspace_settings())
    assert await ws.list_workspaces(viewer.id, "app") == []
    # The viewer can get a fresh default workspace afterwards (the old default row is gone).
    await ws.create_workspace(user_id=viewer.id, name="Default workspace", app_id="app", is_default=True)


async def test_a_handed_over_workspace_keeps_everything(backend: Backend, clock: ManualClock) -> None:
    ws = raw_workspaces(backend)
    ada, old, new = await _user(backend, "ada"), await _user(backend, "old"), await _user(backend, "new")
    team = await ws.create_workspace(user_id=ada.id, name="Team", app_id="app")
    clock.advance(seconds=1)
    await ws.add_member(team.id, old.id, "editor")
    clock.advance(seconds=1)
    await ws.add_member(team.id, new.id, "editor")
    await _fill(backend, team, old)
    await ws.create_invite(team.id, email="pending@example.com", role="viewer", invited_by=ada.id)

    await backend.users.delete_user_completely(ada.id)

    kept = await ws.get_workspace(team.id)
    assert kept is not None and kept.created_by == old.id
    assert await ws.get_member_role(team.id, old.id) == "owner"
    assert [m.user_id for m in await ws.list_members(team.id) if m.role == "owner"] == [old.id]
    assert [i.email for i in await ws.list_invites(team.id)] == ["someone@example.com"]  # ada's pending one went
    assert [s.key for s in await ws.list_workspace_settings(team.id)] == ["token"]
    runtime = await ws.get_workspace_runtime(team.id)
    assert runtime is not None and runtime.volume_path == f"/v/{team.id}"


async def test_soft_deleted_workspaces_are_handed_over_or_removed(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob = await _user(backend, "ada"), await _user(backend, "bob")
    shared = await ws.create_workspace(user_id=ada.id, name="Shared", app_id="app")
    await ws.add_member(shared.id, bob.id, "viewer")
    await ws.delete_workspace(shared.id)
    lonely = await ws.create_workspace(user_id=ada.id, name="Lonely", app_id="app")
    await ws.delete_workspace(lonely.id)

    await backend.users.delete_user_completely(ada.id)

    # Soft-deleted workspaces are skipped by step 1, but step 2 still gives them a new creator...
    assert [m.user_id for m in await ws.list_members(shared.id)] == [bob.id]
    assert await ws.get_member_role(shared.id, bob.id) == "viewer"
    # ...and one left with nobody is hard-deleted in step 5.
    assert await ws.list_members(lonely.id) == []
    assert await backend.users.get_user(bob.id) is not None


async def test_accepted_invites_survive_their_inviter(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob, cy = await _user(backend, "ada"), await _user(backend, "bob"), await _user(backend, "cy")
    team = await ws.create_workspace(user_id=bob.id, name="Team", app_id="app")
    await ws.add_member(team.id, ada.id, "owner")
    to_cy = await ws.create_invite(team.id, email="cy@example.com", role="editor", invited_by=ada.id)
    await ws.accept_invite(team.id, to_cy.invite.id, cy.id)
    pending = await ws.create_invite(team.id, email="dan@example.com", role="viewer", invited_by=ada.id)

    await backend.users.delete_user_completely(ada.id)

    invites = await ws.list_invites(team.id)
    assert [(i.id, i.created_by) for i in invites] == [(to_cy.invite.id, None)]
    assert await ws.get_invite_by_token_hash(pending.invite.token_hash) is None
    assert await ws.get_member_role(team.id, cy.id) == "editor"
