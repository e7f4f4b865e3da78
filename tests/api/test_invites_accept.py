"""Invites, invitee side, over HTTP on every backend: both accept routes in their check order, resolve, the
lockout after 50 failures, and sign-up with ``x-invite-token`` (docs/compatibility.md, fixes 6 and 7)."""

from __future__ import annotations

from datetime import timedelta
from http.cookies import SimpleCookie
from typing import Any

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.testing.workspace_support import raw_workspaces
from localcore.workspaces import models as m
from tests.api.workspace_fixtures import STRONG_PASSWORD, AiohttpClient, Harness, gather_calls, open_harness


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


def accept_path(workspace: str, invite: str, token: str | None) -> str:
    query = f"?invite_token={token}" if token is not None else ""
    return f"/api/v1/workspaces/{workspace}/invites/{invite}/accept{query}"


async def _failed_attempts(h: Harness, workspace: str, invite_id: str) -> int:
    stored = await raw_workspaces(h.backend).get_invite(workspace, invite_id)
    assert stored is not None
    return stored.failed_attempts


# --------------------------------------------------------------------------- A: accept in a workspace


async def test_accepting_in_the_workspace_joins_with_the_invite_role(h: Harness, clock: ManualClock) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await ada.default_workspace()
    invite, token = await h.invite(ada, workspace, "BOB@example.com", "editor")
    clock.advance(minutes=5)
    status, body = await bob.call("POST", accept_path(workspace, invite["id"], token))  # bob is no member yet
    assert status == 200
    m.InviteAcceptedOut.model_validate(body)
    assert body["invite"]["acceptedAt"] == clock().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert (body["member"]["userId"], body["member"]["role"], body["member"]["workspaceId"]) == (
        bob.id, "editor", workspace)
    assert (await bob.call("GET", f"/api/v1/workspaces/{workspace}"))[1]["role"] == "editor"


async def test_accepting_in_the_workspace_checks_in_order(h: Harness, clock: ManualClock) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace, other = await ada.default_workspace(), await cy.default_workspace()
    invite, token = await h.invite(ada, workspace, "bob@example.com", "viewer")
    anonymous = await h.anonymous()
    assert (await anonymous.http.post(accept_path(workspace, invite["id"], token))).status == 401
    status, body = await bob.call("POST", accept_path(workspace, invite["id"], None))
    assert (status, body["code"], body["message"]) == (400, "validation_failed",
                                                       "invite_token query parameter is required")
    assert (await bob.call("POST", accept_path(workspace, invite["id"], "")))[0] == 400
    assert (await bob.call("POST", accept_path(workspace, invite["id"], token) + "&admin=1"))[0] == 400
    for path in (accept_path(workspace, invite["id"], "wrong-token"), accept_path(other, invite["id"], token),
                 accept_path(workspace, "0b5b3a58-47b5-4a6f-9b7d-2a7c3a9d4f00", token),
                 accept_path(workspace, "abc", token)):
        status, body = await bob.call("POST", path)
        assert (status, body["code"], body["message"]) == (404, "invite_not_found", "Invite not found"), path
    assert await _failed_attempts(h, workspace, invite["id"]) == 0
    status, body = await cy.call("POST", accept_path(workspace, invite["id"], token))
    assert (status, body["code"]) == (403, "invite_email_mismatch")
    assert await _failed_attempts(h, workspace, invite["id"]) == 1
    assert (await bob.call("POST", accept_path(workspace, invite["id"], token)))[0] == 200
    status, body = await bob.call("POST", accept_path(workspace, invite["id"], token))
    assert (status, body["code"]) == (410, "invite_already_accepted")
    assert await _failed_attempts(h, workspace, invite["id"]) == 0  # reset by the success, not counted since


async def test_an_expired_invite_is_410_and_counted(h: Harness, clock: ManualClock) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await ada.default_workspace()
    invite, token = await h.invite(ada, workspace, "bob@example.com", "viewer")
    clock.advance(days=7)  # expires_at == now counts as expired
    status, body = await bob.call("POST", accept_path(workspace, invite["id"], token))
    assert (status, body["code"]) == (410, "invite_expired")
    assert await _failed_attempts(h, workspace, invite["id"]) == 1
    assert await h.backend.workspaces.get_member_role(workspace, bob.id) is None


@pytest.mark.parametrize("round_", range(3))
async def test_concurrent_accepts_have_one_winner(h: Harness, round_: int) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await ada.default_workspace()
    invite, token = await h.invite(ada, workspace, "bob@example.com", "editor")
    answers = await gather_calls(bob.call("POST", accept_path(workspace, invite["id"], token)),
                                 bob.call("POST", accept_path(workspace, invite["id"], token)))
    assert sorted(s for s, _ in answers) == [200, 410]
    assert [b["code"] for s, b in answers if s == 410] == ["invite_already_accepted"]
    members = await raw_workspaces(h.backend).list_members(workspace)
    assert sorted(mem.user_id for mem in members) == sorted([ada.id, bob.id])


# --------------------------------------------------------------------------- resolve


async def test_resolve_previews_a_pending_invite(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await ada.default_workspace()
    await ada.call("PUT", f"/api/v1/workspaces/{workspace}", {"name": "Research"})
    invite, token = await h.invite(ada, workspace, "bob@example.com", "viewer")
    status, body = await bob.call("POST", "/api/v1/invites/resolve", {"token": token})
    assert (status, body) == (200, {"workspaceName": "Research", "role": "viewer", "expiresAt": invite["expiresAt"]})
    status, body = await bob.call("POST", "/api/v1/invites/resolve", {"token": "bogus"})
    assert (status, body["code"]) == (404, "invite_not_found")
    for bad in ({}, {"token": ""}, {"token": token, "extra": 1}, None):
        status, body = await bob.call("POST", "/api/v1/invites/resolve", bad)
        assert (status, body["code"]) == (400, "validation_failed"), bad
    assert (await bob.call("POST", "/api/v1/invites/resolve", {}))[1]["message"] == "token is required"
    anonymous = await h.anonymous()
    assert (await anonymous.http.post("/api/v1/invites/resolve", json={"token": token})).status == 401


async def test_resolve_hides_expired_and_accepted_invites_and_counts_them(h: Harness, clock: ManualClock) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await ada.default_workspace()
    accepted, accepted_token = await h.invite(ada, workspace, "bob@example.com", "viewer")
    await bob.call("POST", "/api/v1/invites/accept", {"token": accepted_token})
    status, body = await bob.call("POST", "/api/v1/invites/resolve", {"token": accepted_token})
    assert (status, body["code"]) == (404, "invite_not_found")
    assert await _failed_attempts(h, workspace, accepted["id"]) == 1
    expiring, expiring_token = await h.invite(ada, workspace, "cy@example.com", "viewer")
    clock.advance(days=8)
    status, body = await bob.call("POST", "/api/v1/invites/resolve", {"token": expiring_token})
    assert (status, body["code"]) == (404, "invite_not_found")
    assert await _failed_attempts(h, workspace, expiring["id"]) == 1


async def test_an_invite_into_a_deleted_workspace_is_not_found(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    second = (await ada.call("POST", "/api/v1/workspaces", {"name": "Doomed"}))[1]["workspace"]["id"]
    invite, token = await h.invite(ada, second, "bob@example.com", "viewer")
    assert (await ada.call("DELETE", f"/api/v1/workspaces/{second}"))[0] == 200
    for path, body in (("/api/v1/invites/resolve", {"token": token}), ("/api/v1/invites/accept", {"token": token}),
                       (accept_path(second, invite["id"], token), None)):
        status, answer = await bob.call("POST", path, body)
        assert (status, answer["code"]) == (404, "invite_not_found"), path


# --------------------------------------------------------------------------- B: accept by token


async def test_accepting_by_token(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await ada.default_workspace()
    _, token = await h.invite(ada, workspace, "bob@example.com", "editor")
    anonymous = await h.anonymous()
    assert (await anonymous.http.post("/api/v1/invites/accept", json={"token": token})).status == 401
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": "bogus"}))[1]["code"] == "invite_not_found"
    assert (await bob.call("POST", "/api/v1/invites/accept", {}))[1]["message"] == "token is required"
    status, body = await bob.call("POST", "/api/v1/invites/accept", {"token": token})
    assert status == 200
    m.TokenAcceptedOut.model_validate(body)
    assert body["workspace"]["id"] == workspace and body["workspace"]["name"] == "Default workspace"
    assert (body["member"]["userId"], body["member"]["role"]) == (bob.id, "editor")


async def test_accepting_by_token_counts_failures(h: Harness, clock: ManualClock) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await ada.default_workspace()
    invite, token = await h.invite(ada, workspace, "bob@example.com", "viewer")
    status, body = await cy.call("POST", "/api/v1/invites/accept", {"token": token})
    assert (status, body["code"]) == (403, "invite_email_mismatch")
    assert await _failed_attempts(h, workspace, invite["id"]) == 1
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": token}))[0] == 200
    assert await _failed_attempts(h, workspace, invite["id"]) == 0
    status, body = await bob.call("POST", "/api/v1/invites/accept", {"token": token})
    assert (status, body["code"]) == (410, "invite_already_accepted")  # on both routes: docs/compatibility.md, fix 7
    assert await _failed_attempts(h, workspace, invite["id"]) == 1
    late, late_token = await h.invite(ada, workspace, "cy@example.com", "viewer")
    clock.advance(days=7, seconds=1)
    status, body = await cy.call("POST", "/api/v1/invites/accept", {"token": late_token})
    assert (status, body["code"]) == (410, "invite_expired")
    assert await _failed_attempts(h, workspace, late["id"]) == 1


async def test_accepting_never_lowers_a_role(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(ada, editor=bob)
    _, to_ada = await h.invite(ada, workspace, "ada@example.com", "viewer")
    status, body = await ada.call("POST", "/api/v1/invites/accept", {"token": to_ada})
    assert status == 200 and body["member"]["role"] == "owner"  # the only owner stays owner
    _, to_bob = await h.invite(ada, workspace, "bob@example.com", "viewer")
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": to_bob}))[1]["member"]["role"] == "editor"
    _, up = await h.invite(ada, workspace, "bob@example.com", "owner")
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": up}))[1]["member"]["role"] == "owner"


# --------------------------------------------------------------------------- lockout (50 failures: 423 for an hour)


async def test_the_fiftieth_counted_failure_locks_for_an_hour(h: Harness, clock: ManualClock) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await ada.default_workspace()
    invite, token = await h.invite(ada, workspace, "bob@example.com", "viewer")
    for _ in range(49):
        await h.backend.workspaces.increment_invite_failed_attempts(invite["id"])
    assert (await cy.call("POST", "/api/v1/invites/accept", {"token": token}))[0] == 403  # the 50th
    stored = await raw_workspaces(h.backend).get_invite(workspace, invite["id"])
    assert stored is not None and stored.locked_until == clock() + timedelta(hours=1)
    for path, body in (("/api/v1/invites/accept", {"token": token}), ("/api/v1/invites/resolve", {"token": token}),
                       (accept_path(workspace, invite["id"], token), None)):
        status, answer = await bob.call("POST", path, body)  # even the right person
        assert (status, answer["code"]) == (423, "invite_locked"), path
    clock.advance(hours=1, seconds=1)
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": token}))[0] == 200
    assert await _failed_attempts(h, workspace, invite["id"]) == 0


# --------------------------------------------------------------------------- sign-up with x-invite-token


def _invite_failure_cookie(response_cookies: Any) -> str | None:
    morsel = response_cookies.get("boring_invite_failed")
    return None if morsel is None else str(morsel.value)


async def test_signing_up_with_a_valid_invite_joins_instead_of_a_default_workspace(
        aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> None:
    h = await open_harness(aiohttp_client, backend, clock, mail=True)
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    status, body = await ada.call("POST", f"/api/v1/workspaces/{workspace}/invites",
                                  {"email": "bob@example.com", "role": "editor"})
    assert status == 201
    (mail,) = await ada.client.mails("bob@example.com", "invited you")
    token = next(u for u in mail["links"] if "/invites/" in u).rsplit("/", 1)[1]
    bob = await h.person("Bob@example.com", headers={"x-invite-token": token})
    status, listed = await bob.call("GET", "/api/v1/workspaces")
    assert [(w["id"], w["isDefault"]) for w in listed["workspaces"]] == [(workspace, True)]
    assert (await bob.call("GET", f"/api/v1/workspaces/{workspace}"))[1]["role"] == "editor"
    assert await bob.client.mails("bob@example.com", "Welcome") == []
    stored = await raw_workspaces(h.backend).get_invite(workspace, body["invite"]["id"])
    assert stored is not None and stored.accepted_at is not None


@pytest.mark.parametrize("case", ["invite_not_found", "invite_expired", "invite_email_mismatch",
                                  "invite_already_accepted", "locked"])
async def test_signing_up_with_a_bad_invite_sets_the_failure_cookie_and_continues(
        h: Harness, clock: ManualClock, case: str) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    invite, token = await h.invite(ada, workspace, "bob@example.com", "editor")
    if case == "invite_not_found":
        token = "not-a-real-token"
    elif case == "invite_expired":
        clock.advance(days=8)
    elif case == "invite_email_mismatch":
        pass
    elif case == "invite_already_accepted":
        await h.backend.workspaces.accept_invite(workspace, invite["id"], (await h.person("bob@example.com")).id)
    else:
        for _ in range(50):
            await h.backend.workspaces.increment_invite_failed_attempts(invite["id"])
    before = await _failed_attempts(h, workspace, invite["id"])
    client = await h.anonymous()
    email = "cy@example.com" if case in ("invite_email_mismatch", "invite_already_accepted") else "bob@example.com"
    response = await client.http.post("/auth/sign-up/email", headers={"x-invite-token": token},
                                      json={"name": "New", "email": email, "password": STRONG_PASSWORD})
    assert response.status == 200
    expected = "invite_not_found" if case == "locked" else case
    assert _invite_failure_cookie(response.cookies) == expected
    (header,) = [v for v in response.headers.getall("Set-Cookie") if v.startswith("boring_invite_failed=")]
    attributes = {part.strip().split("=")[0].lower() for part in header.split(";")}
    assert "max-age=60" in header.lower().replace(" ", "") and "httponly" not in attributes
    parsed: SimpleCookie = SimpleCookie()
    parsed.load(header)
    assert parsed["boring_invite_failed"]["path"] == "/"
    listed = await (await client.http.get("/api/v1/workspaces")).json()
    assert [w["name"] for w in listed["workspaces"]] == ["Default workspace"]
    assert listed["workspaces"][0]["id"] != workspace
    assert await _failed_attempts(h, workspace, invite["id"]) == before  # this path never counts


async def test_a_sign_up_without_an_invite_sets_no_cookie(h: Harness) -> None:
    client = await h.anonymous()
    response = await client.http.post("/auth/sign-up/email",
                                      json={"name": "A", "email": "a@example.com", "password": STRONG_PASSWORD})
    assert response.status == 200 and _invite_failure_cookie(response.cookies) is None
