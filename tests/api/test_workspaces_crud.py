"""Workspaces over HTTP on every backend: the workspace guard, create/list/get/rename/delete, the lazily created
default workspace, provisioning, and 404 for ids that are not UUIDs (docs/compatibility.md, fix 8)."""

from __future__ import annotations

import asyncio
import stat
from pathlib import Path

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.workspaces import models as m
from localcore.workspaces.provisioner import FilesystemProvisioner, ProvisionRequest
from tests.api.workspace_fixtures import AiohttpClient, FakeProvisioner, Harness, gather_calls, open_harness


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


async def test_create_answers_201_with_the_owner_role(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    status, body = await ada.call("POST", "/api/v1/workspaces", {"name": "My WS"})
    assert status == 201
    m.WorkspaceWithRoleOut.model_validate(body)
    assert body["role"] == "owner"
    workspace = body["workspace"]
    assert (workspace["name"], workspace["createdBy"], workspace["appId"], workspace["deletedAt"]) == (
        "My WS", ada.id, "boring-app", None)
    assert workspace["isDefault"] is False  # sign-up already gave Ada her default workspace
    assert workspace["createdAt"].endswith("Z")
    status, listed = await ada.call("GET", "/api/v1/workspaces")
    assert [w["name"] for w in listed["workspaces"]] == ["Default workspace", "My WS"]


async def test_the_first_workspace_is_the_default(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    default = await ada.default_workspace()
    assert (await ada.call("DELETE", f"/api/v1/workspaces/{default}"))[0] == 200
    first = await ada.call("POST", "/api/v1/workspaces", {"name": "First"})
    second = await ada.call("POST", "/api/v1/workspaces", {"name": "Second"})
    assert (first[1]["workspace"]["isDefault"], second[1]["workspace"]["isDefault"]) == (True, False)


async def test_create_validates_the_body(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    cases = {
        "name: Name is required": {"name": ""},
        "name: Name must be 100 characters or fewer": {"name": "x" * 101},
        ": Unrecognized key(s) in object: 'admin'": {"name": "ok", "admin": True},
        "name: Field required": {},
        "name: Input should be a valid string": {"name": 5},
    }
    for message, body in cases.items():
        status, answer = await ada.call("POST", "/api/v1/workspaces", body)
        assert (status, answer["code"], answer["message"]) == (400, "validation_failed", message), body
    assert (await ada.call("POST", "/api/v1/workspaces", {"name": " "}))[0] == 201  # not trimmed, as upstream
    assert (await ada.call("POST", "/api/v1/workspaces", {"name": "x" * 100}))[0] == 201


async def test_listing_creates_one_default_workspace_lazily(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    old = await ada.default_workspace()
    await ada.call("DELETE", f"/api/v1/workspaces/{old}")
    status, body = await ada.call("GET", "/api/v1/workspaces")
    assert status == 200
    (created,) = body["workspaces"]
    assert (created["name"], created["isDefault"], created["createdBy"]) == ("Default workspace", True, ada.id)
    assert created["id"] != old
    assert (await ada.call("GET", f"/api/v1/workspaces/{created['id']}"))[1]["role"] == "owner"
    again = await ada.call("GET", "/api/v1/workspaces")
    assert [w["id"] for w in again[1]["workspaces"]] == [created["id"]]


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_listings_create_a_single_default(h: Harness, round_: int) -> None:
    ada = await h.person("ada@example.com")
    await ada.call("DELETE", f"/api/v1/workspaces/{await ada.default_workspace()}")
    answers = await gather_calls(*(ada.call("GET", "/api/v1/workspaces") for _ in range(4)))
    ids = {tuple(w["id"] for w in body["workspaces"]) for _, body in answers}
    assert [status for status, _ in answers] == [200] * 4
    assert len(ids) == 1 and len(next(iter(ids))) == 1
    assert len(await h.backend.workspaces.list_workspaces(ada.id, "boring-app")) == 1


async def test_two_servers_on_one_database_create_a_single_default(
        h: Harness, aiohttp_client: AiohttpClient, second_backend: Backend, clock: ManualClock) -> None:
    other = await open_harness(aiohttp_client, second_backend, clock)
    ada = await h.person("ada@example.com")
    await ada.call("DELETE", f"/api/v1/workspaces/{await ada.default_workspace()}")
    there = await other.anonymous()
    await there.sign_in("ada@example.com", "Zk8$mN!qR2xFgWpJ")
    here, away = await asyncio.gather(ada.client.http.get("/api/v1/workspaces"),
                                      there.http.get("/api/v1/workspaces"))
    assert (here.status, away.status) == (200, 200)
    bodies = [await here.json(), await away.json()]
    assert {w["id"] for body in bodies for w in body["workspaces"]} == {
        w.id for w in await h.backend.workspaces.list_workspaces(ada.id, "boring-app")}
    assert len(await h.backend.workspaces.list_workspaces(ada.id, "boring-app")) == 1


async def test_listing_shows_only_this_apps_workspaces_the_caller_belongs_to(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    await h.backend.workspaces.create_workspace(user_id=ada.id, name="Other app", app_id="other-app")
    bobs = await bob.default_workspace()
    status, body = await ada.call("GET", "/api/v1/workspaces")
    assert status == 200
    assert [w["name"] for w in body["workspaces"]] == ["Default workspace"]
    assert bobs not in {w["id"] for w in body["workspaces"]}


async def test_get_answers_the_callers_role(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    bob, cy = await h.person("bob@example.com"), await h.person("cy@example.com")
    workspace = await h.team(ada, editor=bob)
    status, body = await bob.call("GET", f"/api/v1/workspaces/{workspace}")
    assert status == 200 and body["role"] == "editor" and body["workspace"]["id"] == workspace
    status, body = await cy.call("GET", f"/api/v1/workspaces/{workspace}")
    assert (status, body["code"], body["message"]) == (403, "not_member", "Not a member of this workspace")


async def test_missing_deleted_and_foreign_workspaces_are_404_before_membership(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    foreign = await h.backend.workspaces.create_workspace(user_id=ada.id, name="Elsewhere", app_id="other-app")
    deleted = await h.backend.workspaces.create_workspace(user_id=ada.id, name="Gone", app_id="boring-app")
    await h.backend.workspaces.delete_workspace(deleted.id)
    for workspace_id in (foreign.id, deleted.id, "7d0c6f5e-1111-4222-8333-944455556666", "abc", "not-a-uuid"):
        for who in (ada, bob):
            status, body = await who.call("GET", f"/api/v1/workspaces/{workspace_id}")
            assert (status, body["code"], body["message"]) == (404, "not_found", "Workspace not found"), workspace_id


@pytest.mark.parametrize("path", ["", "/members", "/invites", "/settings", "/runtime"])
async def test_ids_that_are_not_uuids_are_404_on_every_route(h: Harness, path: str) -> None:
    ada = await h.person("ada@example.com")
    for workspace_id in ("abc", "0" * 128, "ws-same", "DROP_TABLE"):
        status, body = await ada.call("GET", f"/api/v1/workspaces/{workspace_id}{path}")
        assert (status, body["code"]) == (404, "not_found"), workspace_id
    workspace = await ada.default_workspace()
    for sub in ("/members/abc/role", "/members/abc"):
        method, body_ = ("PATCH", {"role": "viewer"}) if sub.endswith("role") else ("DELETE", None)
        status, body = await ada.call(method, f"/api/v1/workspaces/{workspace}{sub}", body_)
        assert (status, body["code"]) == (404, "not_member")
    status, body = await ada.call("DELETE", f"/api/v1/workspaces/{workspace}/invites/abc")
    assert (status, body["code"]) == (404, "not_found")


async def test_ids_with_invalid_characters_are_400(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    for workspace_id in ("a.b", "x" * 129, "a%20b", "%C3%A9t%C3%A9"):
        status, body = await ada.call("GET", f"/api/v1/workspaces/{workspace_id}")
        assert (status, body["code"], body["message"]) == (
            400, "validation_failed", "Invalid workspace id"), workspace_id


async def test_rename_needs_an_editor_and_a_valid_name(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob, viewer=cy)
    status, body = await bob.call("PUT", f"/api/v1/workspaces/{workspace}", {"name": "New"})
    assert status == 200 and body["workspace"]["name"] == "New" and set(body) == {"workspace"}
    status, body = await cy.call("PUT", f"/api/v1/workspaces/{workspace}", {"name": "Nope"})
    assert (status, body["code"], body["message"]) == (403, "forbidden", "Requires editor role or higher")
    status, body = await bob.call("PUT", f"/api/v1/workspaces/{workspace}", {})
    assert (status, body["code"], body["message"]) == (400, "validation_failed", "At least one field must be provided")
    status, body = await bob.call("PUT", f"/api/v1/workspaces/{workspace}", {"name": "x" * 101})
    assert (status, body["code"]) == (400, "validation_failed")
    assert (await ada.call("GET", f"/api/v1/workspaces/{workspace}"))[1]["workspace"]["name"] == "New"


async def test_delete_is_an_owner_only_soft_delete(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob)
    status, body = await bob.call("DELETE", f"/api/v1/workspaces/{workspace}")
    assert (status, body["code"], body["message"]) == (403, "forbidden", "Requires owner role or higher")
    status, body = await cy.call("DELETE", f"/api/v1/workspaces/{workspace}")
    assert (status, body["code"]) == (403, "not_member")
    assert await ada.call("DELETE", f"/api/v1/workspaces/{workspace}") == (200, {"deleted": True})
    assert (await ada.call("GET", f"/api/v1/workspaces/{workspace}"))[0] == 404
    assert (await ada.call("DELETE", f"/api/v1/workspaces/{workspace}"))[0] == 404
    # Soft: the rows are still there.
    assert await h.backend.workspaces.get_member_role(workspace, bob.id) == "editor"
    assert workspace not in {w["id"] for w in (await bob.call("GET", "/api/v1/workspaces"))[1]["workspaces"]}


async def test_allow_listed_origins_may_rename_and_delete_cross_origin(h: Harness) -> None:
    """The preflight grants PUT/PATCH/DELETE to allow-listed origins; others are refused (docs/compatibility.md,
    fix 14)."""
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    path = f"/api/v1/workspaces/{workspace}"
    preflight = await ada.client.http.options(path, headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "PATCH"})
    assert preflight.status in (200, 204)
    assert preflight.headers["Access-Control-Allow-Origin"] == "https://app.example.com"
    assert {"PUT", "PATCH", "DELETE"} <= set(preflight.headers["Access-Control-Allow-Methods"].split(","))
    allowed = await ada.call("PUT", path, {"name": "Cross"}, headers={"Origin": "https://app.example.com"})
    assert allowed[0] == 200
    refused = await ada.call("DELETE", path, headers={"Origin": "https://evil.example.com"})
    assert refused[0] == 403
    assert (await ada.call("GET", path))[1]["workspace"]["name"] == "Cross"


async def test_unauthenticated_calls_are_401(h: Harness) -> None:
    anonymous = await h.anonymous()
    for method, path in (("GET", "/api/v1/workspaces"), ("POST", "/api/v1/workspaces"),
                         ("GET", "/api/v1/workspaces/abc"), ("GET", "/api/v1/workspaces/abc/members")):
        response = await anonymous.http.request(method, path, json={})
        assert response.status == 401, path
        assert (await response.json())["code"] == "unauthorized"


# --------------------------------------------------------------------------- provisioning


async def test_create_provisions_and_records_the_volume(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    fake = FakeProvisioner()
    h.set_provisioner(fake)
    status, body = await ada.call("POST", "/api/v1/workspaces", {"name": "Provisioned"})
    assert status == 201
    workspace_id = body["workspace"]["id"]
    assert ProvisionRequest(workspace_id, "Provisioned", ada.id, "boring-app") in fake.provisioned
    runtime = (await ada.call("GET", f"/api/v1/workspaces/{workspace_id}/runtime"))[1]["runtime"]
    assert (runtime["state"], runtime["volumePath"], runtime["lastError"]) == (
        "ready", f"/volumes/{workspace_id}", None)


async def test_a_failed_provision_is_500_and_keeps_the_workspace(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    await ada.default_workspace()
    h.set_provisioner(FakeProvisioner(fail_with="disk full"))
    status, body = await ada.call("POST", "/api/v1/workspaces", {"name": "Doomed"})
    assert (status, body["code"], body["message"]) == (500, "provision_failed", "Workspace provisioning failed")
    (doomed,) = [w for w in await h.backend.workspaces.list_workspaces(ada.id, "boring-app") if w.name == "Doomed"]
    runtime = (await ada.call("GET", f"/api/v1/workspaces/{doomed.id}/runtime"))[1]["runtime"]
    assert (runtime["state"], runtime["lastError"], runtime["lastErrorOp"]) == ("error", "disk full", "provision")


async def test_listing_backfills_the_default_workspace_as_its_creator(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(ada, editor=bob)
    fake = FakeProvisioner()
    h.set_provisioner(fake)
    status, _ = await bob.call("GET", "/api/v1/workspaces")
    assert status == 200
    assert [(r.workspace_id, r.owner_id) for r in fake.provisioned if r.workspace_id == workspace] == [
        (workspace, ada.id)]
    runtime = await h.backend.workspaces.get_workspace_runtime(workspace)
    assert runtime is not None and runtime.volume_path == f"/volumes/{workspace}"
    await bob.call("GET", "/api/v1/workspaces")  # provisioned now: not again
    assert sum(1 for r in fake.provisioned if r.workspace_id == workspace) == 1


async def test_a_failed_destroy_keeps_the_workspace_until_a_retry_succeeds(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    fake = FakeProvisioner(fail_destroy_with="EBUSY")
    h.set_provisioner(fake)
    status, body = await ada.call("DELETE", f"/api/v1/workspaces/{workspace}")
    assert (status, body["code"], body["message"]) == (500, "destroy_failed", "Workspace destroy failed")
    assert (await ada.call("GET", f"/api/v1/workspaces/{workspace}"))[0] == 200
    runtime = (await ada.call("GET", f"/api/v1/workspaces/{workspace}/runtime"))[1]["runtime"]
    assert (runtime["state"], runtime["lastError"], runtime["lastErrorOp"]) == ("error", "EBUSY", "destroy")
    fake.fail_destroy_with = None
    assert await ada.call("DELETE", f"/api/v1/workspaces/{workspace}") == (200, {"deleted": True})
    assert fake.destroyed == [workspace, workspace]


async def test_the_filesystem_provisioner_makes_private_directories(h: Harness, tmp_path: Path) -> None:
    root = tmp_path / "volumes"
    h.set_provisioner(FilesystemProvisioner(root))
    ada = await h.person("ada@example.com")
    status, body = await ada.call("POST", "/api/v1/workspaces", {"name": "On disk"})
    assert status == 201
    workspace_id = body["workspace"]["id"]
    directory = root / workspace_id
    assert directory.is_dir() and stat.S_IMODE(directory.stat().st_mode) == 0o700
    runtime = (await ada.call("GET", f"/api/v1/workspaces/{workspace_id}/runtime"))[1]["runtime"]
    assert runtime["volumePath"] == str(directory)
    assert (await ada.call("DELETE", f"/api/v1/workspaces/{workspace_id}"))[0] == 200
    assert not directory.exists()


async def test_the_filesystem_provisioner_refuses_escaping_ids(tmp_path: Path) -> None:
    provisioner = FilesystemProvisioner(tmp_path)
    for bad in ("..", ".", "a/b", "a\\b", "x\x00y", ""):
        with pytest.raises(ValueError):
            await provisioner.provision(ProvisionRequest(bad, "n", "o", "a"))
        with pytest.raises(ValueError):
            await provisioner.destroy(bad)
    with pytest.raises(ValueError):
        FilesystemProvisioner("relative/root")
    await provisioner.destroy("never-made")  # destroying what is not there succeeds
