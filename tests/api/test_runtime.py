"""Workspace runtime and retry (created ``ready`` on first read; retry only after a failed provision, as an owner)
on every backend."""

from __future__ import annotations

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.workspaces import models as m
from tests.api.workspace_fixtures import AiohttpClient, FakeProvisioner, Harness, open_harness


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


def runtime_path(workspace: str, retry: bool = False) -> str:
    return f"/api/v1/workspaces/{workspace}/runtime" + ("/retry" if retry else "")


async def test_reading_the_runtime_creates_a_ready_one(h: Harness, clock: ManualClock) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, viewer=bob)
    status, body = await bob.call("GET", runtime_path(workspace))
    assert status == 200
    m.RuntimeEnvelopeOut.model_validate(body)
    runtime = body["runtime"]
    assert (runtime["state"], runtime["workspaceId"], runtime["volumePath"], runtime["lastErrorOp"]) == (
        "ready", workspace, None, None)
    assert runtime["updatedAt"] == clock().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (await cy.call("GET", runtime_path(workspace)))[1]["code"] == "not_member"


async def test_retry_without_a_provisioner_is_unmanaged(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(ada, editor=bob)
    status, body = await ada.call("POST", runtime_path(workspace, retry=True), {})
    assert (status, body["code"], body["message"]) == (
        409, "runtime_unmanaged", "No managed runtime for this workspace")
    status, body = await bob.call("POST", runtime_path(workspace, retry=True))
    assert (status, body["code"]) == (403, "forbidden")


async def test_only_a_failed_provision_can_be_retried(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    h.set_provisioner(FakeProvisioner())
    status, body = await ada.call("POST", runtime_path(workspace, retry=True))
    assert (status, body["code"]) == (409, "invalid_retry_state")  # ready
    await h.backend.workspaces.put_workspace_runtime(workspace, {"state": "error", "last_error": "EBUSY",
                                                                 "last_error_op": "destroy"})
    status, body = await ada.call("POST", runtime_path(workspace, retry=True))
    assert (status, body["code"]) == (409, "invalid_retry_state")
    await h.backend.workspaces.put_workspace_runtime(workspace, {"state": "pending", "last_error_op": None})
    assert (await ada.call("POST", runtime_path(workspace, retry=True)))[1]["code"] == "invalid_retry_state"


async def test_retrying_a_failed_provision(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(bob, owner=ada)  # Bob created it; Ada (an owner) retries
    fake = FakeProvisioner(fail_with="still broken")
    h.set_provisioner(fake)
    await h.backend.workspaces.put_workspace_runtime(workspace, {"state": "error", "last_error": "disk full",
                                                                 "last_error_op": "provision"})
    status, body = await ada.call("POST", runtime_path(workspace, retry=True), {})
    assert (status, body["code"], body["message"]) == (500, "provision_failed", "Workspace provisioning failed")
    runtime = (await ada.call("GET", runtime_path(workspace)))[1]["runtime"]
    assert (runtime["state"], runtime["lastError"], runtime["lastErrorOp"]) == ("error", "still broken", "provision")
    fake.fail_with = None
    status, body = await ada.call("POST", runtime_path(workspace, retry=True), {})
    assert status == 200
    runtime = body["runtime"]
    assert (runtime["state"], runtime["volumePath"], runtime["lastError"], runtime["lastErrorOp"]) == (
        "ready", f"/volumes/{workspace}", None, None)
    assert [(r.workspace_id, r.owner_id, r.workspace_name) for r in fake.provisioned][-1] == (
        workspace, ada.id, "Default workspace")
