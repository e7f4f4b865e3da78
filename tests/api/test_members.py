"""Members over HTTP (list, add, change role, remove or leave; the last-owner rule) on every backend."""

from __future__ import annotations

import uuid

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.testing.workspace_support import raw_workspaces
from localcore.workspaces import models as m
from tests.api.workspace_fixtures import AiohttpClient, Harness, Person, gather_calls, open_harness


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


def members_path(workspace: str, user: str = "") -> str:
    return f"/api/v1/workspaces/{workspace}/members" + (f"/{user}" if user else "")


async def _roles(h: Harness, workspace: str) -> dict[str, str]:
    return {mem.user_id: mem.role for mem in await raw_workspaces(h.backend).list_members(workspace)}


async def test_listing_members_shows_their_users(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com", "Ada"), await h.person("bob@example.com", "Bob")
    workspace = await h.team(ada, viewer=bob)
    status, body = await bob.call("GET", members_path(workspace))
    assert status == 200
    m.MembersOut.model_validate(body)
    assert sorted((e["userId"], e["role"], e["user"]["email"], e["user"]["name"]) for e in body["members"]) == sorted(
        [(ada.id, "owner", "ada@example.com", "Ada"), (bob.id, "viewer", "bob@example.com", "Bob")])
    assert all(e["workspaceId"] == workspace and e["user"]["id"] == e["userId"] for e in body["members"])
    outsider = await h.person("cy@example.com")
    assert (await outsider.call("GET", members_path(workspace)))[1]["code"] == "not_member"


async def test_owners_add_members_directly(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await ada.default_workspace()
    status, body = await ada.call("POST", members_path(workspace), {"userId": bob.id, "role": "editor"})
    assert status == 201
    assert body["member"] | {"createdAt": None} == {"workspaceId": workspace, "userId": bob.id, "role": "editor",
                                                    "createdAt": None}
    status, body = await bob.call("POST", members_path(workspace), {"userId": cy.id, "role": "viewer"})
    assert (status, body["code"], body["message"]) == (403, "forbidden", "Requires owner role or higher")
    status, body = await ada.call("POST", members_path(workspace), {"userId": bob.id, "role": "viewer"})
    assert (status, body["code"], body["message"]) == (
        409, "validation_failed", "User is already a member of this workspace")
    for bad in ({"userId": "not-a-uuid", "role": "viewer"}, {"userId": cy.id, "role": "admin"},
                {"userId": cy.id}, {"userId": cy.id, "role": "viewer", "extra": 1}):
        status, body = await ada.call("POST", members_path(workspace), bad)
        assert (status, body["code"]) == (400, "validation_failed"), bad
    status, body = await ada.call("POST", members_path(workspace), {"userId": str(uuid.uuid4()), "role": "viewer"})
    assert (status, body["code"]) == (404, "not_found")
    status, body = await ada.call("POST", members_path(workspace), {"userId": cy.id.upper(), "role": "owner"})
    assert status == 201 and body["member"]["userId"] == cy.id
    assert await _roles(h, workspace) == {ada.id: "owner", bob.id: "editor", cy.id: "owner"}


async def test_owners_change_roles_but_never_the_last_owner(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(ada, viewer=bob)
    status, body = await ada.call("PATCH", members_path(workspace, ada.id) + "/role", {"role": "editor"})
    assert (status, body["code"], body["message"]) == (409, "last_owner", "Cannot demote the last owner")
    assert (await ada.call("PATCH", members_path(workspace, ada.id) + "/role", {"role": "owner"}))[0] == 200
    status, body = await ada.call("PATCH", members_path(workspace, bob.id) + "/role", {"role": "owner"})
    assert status == 200 and body["member"]["role"] == "owner" and body["member"]["userId"] == bob.id
    # With two owners, either may demote themselves or the other.
    status, body = await ada.call("PATCH", members_path(workspace, ada.id) + "/role", {"role": "editor"})
    assert status == 200 and body["member"]["role"] == "editor"
    status, body = await bob.call("PATCH", members_path(workspace, bob.id) + "/role", {"role": "viewer"})
    assert (status, body["code"]) == (409, "last_owner")
    assert await _roles(h, workspace) == {ada.id: "editor", bob.id: "owner"}


async def test_role_changes_need_an_owner_and_a_member(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob)
    status, body = await bob.call("PATCH", members_path(workspace, bob.id) + "/role", {"role": "owner"})
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await ada.call("PATCH", members_path(workspace, cy.id) + "/role", {"role": "viewer"})
    assert (status, body["code"], body["message"]) == (404, "not_member", "User is not a member of this workspace")
    for bad in ({"role": "admin"}, {}, {"role": "viewer", "x": 1}):
        status, body = await ada.call("PATCH", members_path(workspace, bob.id) + "/role", bad)
        assert (status, body["code"]) == (400, "validation_failed"), bad


async def test_removal_rules(h: Harness) -> None:
    ada, bob, cy, dan = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                         await h.person("cy@example.com"), await h.person("dan@example.com"))
    workspace = await h.team(ada, editor=bob, viewer=cy)
    status, body = await bob.call("DELETE", members_path(workspace, cy.id))
    assert (status, body["code"], body["message"]) == (403, "forbidden", "Only owners can remove other members")
    assert await bob.call("DELETE", members_path(workspace, bob.id)) == (200, {"removed": True})  # leaving
    assert await ada.call("DELETE", members_path(workspace, cy.id)) == (200, {"removed": True})
    status, body = await ada.call("DELETE", members_path(workspace, ada.id))
    assert (status, body["code"], body["message"]) == (409, "last_owner", "Cannot remove the last owner")
    status, body = await ada.call("DELETE", members_path(workspace, dan.id))
    assert (status, body["code"]) == (404, "not_member")
    status, body = await dan.call("DELETE", members_path(workspace, dan.id))
    assert (status, body["code"]) == (403, "not_member")
    assert await _roles(h, workspace) == {ada.id: "owner"}
    assert (await bob.call("GET", f"/api/v1/workspaces/{workspace}"))[1]["code"] == "not_member"


async def _two_owners(h: Harness) -> tuple[str, Person, Person]:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    return await h.team(ada, owner=bob), ada, bob


@pytest.mark.parametrize("round_", range(3))
async def test_two_owners_demoting_each_other_concurrently(h: Harness, round_: int) -> None:
    workspace, ada, bob = await _two_owners(h)
    answers = await gather_calls(ada.call("PATCH", members_path(workspace, bob.id) + "/role", {"role": "editor"}),
                                 bob.call("PATCH", members_path(workspace, ada.id) + "/role", {"role": "editor"}))
    statuses = sorted(status for status, _ in answers)
    assert statuses[0] == 200 and statuses[1] in (403, 409), answers
    assert list((await _roles(h, workspace)).values()).count("owner") == 1


@pytest.mark.parametrize("round_", range(3))
async def test_two_owners_removing_each_other_concurrently(h: Harness, round_: int) -> None:
    workspace, ada, bob = await _two_owners(h)
    answers = await gather_calls(ada.call("DELETE", members_path(workspace, bob.id)),
                                 bob.call("DELETE", members_path(workspace, ada.id)))
    statuses = sorted(status for status, _ in answers)
    assert statuses[0] == 200 and statuses[1] in (403, 409), answers
    roles = await _roles(h, workspace)
    assert list(roles.values()) == ["owner"]
