"""Contract: workspaces and members (roles viewer < editor < owner; a workspace always keeps an owner) — incl.
the last-owner race."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Awaitable

import pytest

from backends import open_backend
from localcore.clock import ManualClock
from localcore.store import Backend, ConstraintViolation, MembershipError, User
from localcore.testing.workspace_support import raw_workspaces

UNKNOWN = str(uuid.uuid4())
BAD_IDS = ("abc", "not-a-uuid", "'; DROP TABLE workspaces; --", "0" * 200, "", UNKNOWN)


async def _users(backend: Backend, *names: str) -> list[User]:
    return [await backend.users.create_user(email=f"{n}@example.com", name=n.title()) for n in names]


async def test_create_makes_the_creator_owner_and_lists_by_default_then_newest(
        backend: Backend, clock: ManualClock) -> None:
    ws = raw_workspaces(backend)
    (ada,) = await _users(backend, "ada")
    first = await ws.create_workspace(user_id=ada.id, name="First", app_id="app")
    clock.advance(seconds=1)
    default = await ws.create_workspace(user_id=ada.id, name="Default workspace", app_id="app", is_default=True)
    clock.advance(seconds=1)
    newest = await ws.create_workspace(user_id=ada.id, name="Newest", app_id="app")
    await ws.create_workspace(user_id=ada.id, name="Elsewhere", app_id="other")
    assert first.created_by == ada.id and not first.is_default and first.deleted_at is None
    assert await ws.get_member_role(first.id, ada.id) == "owner"
    assert [w.id for w in await ws.list_workspaces(ada.id, "app")] == [default.id, newest.id, first.id]
    assert await ws.get_workspace(first.id) == first


async def test_listing_needs_membership(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob = await _users(backend, "ada", "bob")
    mine = await ws.create_workspace(user_id=ada.id, name="Mine", app_id="app")
    assert await ws.list_workspaces(bob.id, "app") == []
    await ws.add_member(mine.id, bob.id, "viewer")
    assert [w.id for w in await ws.list_workspaces(bob.id, "app")] == [mine.id]


async def test_rename_and_soft_delete(backend: Backend, clock: ManualClock) -> None:
    ws = raw_workspaces(backend)
    ada, bob = await _users(backend, "ada", "bob")
    workspace = await ws.create_workspace(user_id=ada.id, name="Old", app_id="app")
    await ws.add_member(workspace.id, bob.id, "editor")
    invite = await ws.create_invite(workspace.id, email="c@example.com", role="viewer", invited_by=ada.id)
    await ws.put_workspace_settings(workspace.id, {"k": (b"ct", "kid")})
    renamed = await ws.update_workspace(workspace.id, name="New")
    assert renamed is not None and renamed.name == "New" and renamed.id == workspace.id
    clock.advance(seconds=5)
    assert await ws.delete_workspace(workspace.id) is True
    assert await ws.delete_workspace(workspace.id) is False
    assert await ws.get_workspace(workspace.id) is None
    assert await ws.update_workspace(workspace.id, name="Again") is None
    assert await ws.list_workspaces(ada.id, "app") == []
    # Soft: members, invites and settings are kept; the role lookup ignores the deleted flag.
    assert await ws.get_member_role(workspace.id, bob.id) == "editor"
    assert [i.id for i in await ws.list_invites(workspace.id)] == [invite.invite.id]
    assert [s.key for s in await ws.list_workspace_settings(workspace.id)] == ["k"]
    assert await ws.get_workspace_runtime(workspace.id) is None


async def test_deleting_the_default_frees_the_default_slot(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    (ada,) = await _users(backend, "ada")
    default = await ws.create_workspace(user_id=ada.id, name="Default workspace", app_id="app", is_default=True)
    with pytest.raises(ConstraintViolation):
        await ws.create_workspace(user_id=ada.id, name="Second default", app_id="app", is_default=True)
    assert await ws.delete_workspace(default.id) is True
    fresh = await ws.create_workspace(user_id=ada.id, name="Default workspace", app_id="app", is_default=True)
    assert [w.id for w in await ws.list_workspaces(ada.id, "app")] == [fresh.id]


async def test_members_come_with_their_users(backend: Backend, clock: ManualClock) -> None:
    ws = raw_workspaces(backend)
    ada, bob = await _users(backend, "ada", "bob")
    workspace = await ws.create_workspace(user_id=ada.id, name="W", app_id="app")
    clock.advance(seconds=1)
    added = await ws.add_member(workspace.id, bob.id, "viewer")
    assert (added.role, added.user_id, added.created_at) == ("viewer", bob.id, clock())
    listed = await ws.list_members_with_users(workspace.id)
    assert [(m.member.user_id, m.member.role, m.email, m.name, m.image) for m in listed] == [
        (ada.id, "owner", "ada@example.com", "Ada", None), (bob.id, "viewer", "bob@example.com", "Bob", None)]


async def test_add_member_refuses_duplicates_unknown_users_and_bad_roles(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob = await _users(backend, "ada", "bob")
    workspace = await ws.create_workspace(user_id=ada.id, name="W", app_id="app")
    await ws.add_member(workspace.id, bob.id, "editor")
    with pytest.raises(ConstraintViolation) as dup:
        await ws.add_member(workspace.id, bob.id, "viewer")
    assert dup.value.kind == "unique"
    assert await ws.get_member_role(workspace.id, bob.id) == "editor"
    for user_id in (UNKNOWN, "not-a-uuid"):
        with pytest.raises(ConstraintViolation) as unknown:
            await ws.add_member(workspace.id, user_id, "viewer")
        assert unknown.value.kind == "foreign_key"
    with pytest.raises(ConstraintViolation) as no_workspace:
        await ws.add_member(UNKNOWN, bob.id, "viewer")
    assert no_workspace.value.kind == "foreign_key"
    (cy,) = await _users(backend, "cy")
    with pytest.raises(ConstraintViolation) as bad_role:
        await ws.add_member(workspace.id, cy.id, "admin")
    assert bad_role.value.kind == "check"


async def test_role_changes_keep_an_owner(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob, cy = await _users(backend, "ada", "bob", "cy")
    workspace = await ws.create_workspace(user_id=ada.id, name="W", app_id="app")
    await ws.add_member(workspace.id, bob.id, "viewer")
    with pytest.raises(MembershipError) as last:
        await ws.update_member_role(workspace.id, ada.id, "editor")
    assert last.value.code == "last_owner"
    same = await ws.update_member_role(workspace.id, ada.id, "owner")
    assert same.role == "owner"
    with pytest.raises(MembershipError) as missing:
        await ws.update_member_role(workspace.id, cy.id, "editor")
    assert missing.value.code == "not_member"
    promoted = await ws.update_member_role(workspace.id, bob.id, "owner")
    assert promoted.role == "owner"
    demoted = await ws.update_member_role(workspace.id, ada.id, "viewer")  # another owner exists
    assert demoted.role == "viewer"
    with pytest.raises(MembershipError) as again:
        await ws.update_member_role(workspace.id, bob.id, "editor")
    assert again.value.code == "last_owner"
    with pytest.raises(ConstraintViolation):
        await ws.update_member_role(workspace.id, ada.id, "admin")


async def test_an_acting_user_must_still_be_an_owner(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob, cy = await _users(backend, "ada", "bob", "cy")
    workspace = await ws.create_workspace(user_id=ada.id, name="W", app_id="app")
    await ws.add_member(workspace.id, bob.id, "editor")
    await ws.add_member(workspace.id, cy.id, "viewer")
    with pytest.raises(MembershipError) as role_change:
        await ws.update_member_role(workspace.id, cy.id, "editor", actor_id=bob.id)
    assert role_change.value.code == "forbidden"
    with pytest.raises(MembershipError) as removal:
        await ws.remove_member(workspace.id, cy.id, actor_id=bob.id)
    assert removal.value.code == "forbidden"
    await ws.remove_member(workspace.id, bob.id, actor_id=bob.id)  # anyone may leave
    await ws.update_member_role(workspace.id, cy.id, "editor", actor_id=ada.id)
    assert await ws.get_member_role(workspace.id, cy.id) == "editor"


async def test_removal_keeps_an_owner(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    ada, bob, cy = await _users(backend, "ada", "bob", "cy")
    workspace = await ws.create_workspace(user_id=ada.id, name="W", app_id="app")
    await ws.add_member(workspace.id, bob.id, "editor")
    with pytest.raises(MembershipError) as last:
        await ws.remove_member(workspace.id, ada.id)
    assert last.value.code == "last_owner"
    with pytest.raises(MembershipError) as missing:
        await ws.remove_member(workspace.id, cy.id)
    assert missing.value.code == "not_member"
    await ws.remove_member(workspace.id, bob.id)
    assert await ws.get_member_role(workspace.id, bob.id) is None
    await ws.add_member(workspace.id, cy.id, "owner")
    await ws.remove_member(workspace.id, ada.id)
    assert [m.user_id for m in await ws.list_members(workspace.id)] == [cy.id]


async def test_ids_that_are_not_uuids_match_nothing(backend: Backend) -> None:
    ws = raw_workspaces(backend)
    (ada,) = await _users(backend, "ada")
    real = await ws.create_workspace(user_id=ada.id, name="W", app_id="app")
    for bad in BAD_IDS:
        assert await ws.get_workspace(bad) is None
        assert await ws.update_workspace(bad, name="x") is None
        assert await ws.delete_workspace(bad) is False
        assert await ws.list_workspaces(bad, "app") == []
        assert await ws.list_members(bad) == []
        assert await ws.list_members_with_users(bad) == []
        assert await ws.get_member_role(bad, ada.id) is None
        assert await ws.get_member_role(real.id, bad) is None
        for call in (ws.update_member_role(bad, ada.id, "viewer"), ws.update_member_role(real.id, bad, "viewer"),
                     ws.remove_member(bad, ada.id), ws.remove_member(real.id, bad)):
            with pytest.raises(MembershipError) as refused:
                await call
            assert refused.value.code == "not_member"
        assert await ws.list_invites(bad) == []
        assert await ws.get_invite(bad, bad) is None
        assert await ws.get_invite(real.id, bad) is None
        assert await ws.revoke_invite(real.id, bad) is False
        assert await ws.increment_invite_failed_attempts(bad) == (await ws.increment_invite_failed_attempts(UNKNOWN))
        await ws.reset_invite_failed_attempts(bad)
        assert await ws.list_workspace_settings(bad) == []
        assert await ws.get_workspace_setting(bad, "k") is None
        assert await ws.replace_workspace_setting(bad, "k", expected=b"", value=b"", key_id="x") is False
        assert await ws.get_workspace_runtime(bad) is None
        with pytest.raises(LookupError):
            await ws.put_workspace_runtime(bad, {"state": "pending"})
    assert await ws.get_member_role(real.id, ada.id) == "owner"


# --------------------------------------------------------------------------- the last-owner race


async def _two_owners(backend: Backend) -> tuple[str, User, User]:
    ada, bob = await _users(backend, "ada", "bob")
    workspace = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="app")
    await backend.workspaces.add_member(workspace.id, bob.id, "owner")
    return workspace.id, ada, bob


async def _outcomes(*calls: Awaitable[object]) -> list[str]:
    results = await asyncio.gather(*calls, return_exceptions=True)
    out = []
    for result in results:
        if isinstance(result, MembershipError):
            out.append(result.code)
        elif isinstance(result, BaseException):
            raise result
        else:
            out.append("ok")
    return sorted(out)


async def _owners(backend: Backend, workspace_id: str) -> list[str]:
    return [m.user_id for m in await raw_workspaces(backend).list_members(workspace_id) if m.role == "owner"]


@pytest.mark.parametrize("round_", range(5))
async def test_two_owners_demoting_each_other_leaves_exactly_one(backend: Backend, round_: int) -> None:
    workspace_id, ada, bob = await _two_owners(backend)
    ws = raw_workspaces(backend)
    outcomes = await _outcomes(ws.update_member_role(workspace_id, bob.id, "editor", actor_id=ada.id),
                               ws.update_member_role(workspace_id, ada.id, "editor", actor_id=bob.id))
    assert outcomes[1] == "ok" and outcomes[0] in ("forbidden", "last_owner")
    assert len(await _owners(backend, workspace_id)) == 1


@pytest.mark.parametrize("round_", range(5))
async def test_two_owners_removing_each_other_leaves_exactly_one(backend: Backend, round_: int) -> None:
    workspace_id, ada, bob = await _two_owners(backend)
    ws = raw_workspaces(backend)
    outcomes = await _outcomes(ws.remove_member(workspace_id, bob.id, actor_id=ada.id),
                               ws.remove_member(workspace_id, ada.id, actor_id=bob.id))
    assert outcomes[1] == "ok" and outcomes[0] in ("forbidden", "last_owner")
    assert len(await _owners(backend, workspace_id)) == 1
    assert len(await ws.list_members(workspace_id)) == 1


@pytest.mark.parametrize("round_", range(5))
async def test_without_an_actor_check_the_rule_alone_keeps_one_owner(backend: Backend, round_: int) -> None:
    workspace_id, ada, bob = await _two_owners(backend)
    ws = raw_workspaces(backend)
    outcomes = await _outcomes(ws.update_member_role(workspace_id, bob.id, "viewer"),
                               ws.remove_member(workspace_id, ada.id))
    assert outcomes == ["last_owner", "ok"]
    assert len(await _owners(backend, workspace_id)) == 1


@pytest.mark.shared_storage
@pytest.mark.parametrize("round_", range(5))
async def test_the_race_across_two_processes_handles(backend: Backend, backend_url: str, clock: ManualClock,
                                                     round_: int) -> None:
    """Two separately opened backends on one database (as two localcore processes would be)."""
    workspace_id, ada, bob = await _two_owners(backend)
    async with await open_backend(backend_url, clock=clock) as other:
        demote = await _outcomes(backend.workspaces.update_member_role(workspace_id, bob.id, "editor"),
                                 other.workspaces.update_member_role(workspace_id, ada.id, "editor"))
        assert demote == ["last_owner", "ok"]
        (owner,) = await _owners(backend, workspace_id)
        (cy,) = await _users(backend, "cy")
        await backend.workspaces.add_member(workspace_id, cy.id, "owner")
        remove = await _outcomes(backend.workspaces.remove_member(workspace_id, owner),
                                 other.workspaces.remove_member(workspace_id, cy.id))
        assert remove == ["last_owner", "ok"]
        assert len(await _owners(other, workspace_id)) == 1
