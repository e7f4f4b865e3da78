"""The audit routes over HTTP on every backend: who may read a workspace's log (owner only, refused like the
other owner routes), ``/me/activity`` isolation, paging and its refusals, no secret in any event, and
how a deleted actor is shown. Every action's real HTTP flow is walked in ``test_audit_actions.py``."""

from __future__ import annotations

import asyncio
import base64
import json
import uuid
from typing import Any

import pytest

from localcore.appkeys import CONFIG
from localcore.audit.models import AuditPageOut
from localcore.clock import ManualClock
from localcore.contract.audit import AuditRecord
from localcore.store import Backend
from tests.api.auth_support import make_config
from tests.api.workspace_fixtures import STRONG_PASSWORD, AiohttpClient, Harness, Person, open_harness


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


def audit_path(workspace: str, query: str = "") -> str:
    return f"/api/v1/workspaces/{workspace}/audit" + (f"?{query}" if query else "")


async def page(person: Person, path: str) -> dict[str, Any]:
    status, body = await person.call("GET", path)
    assert status == 200, body
    AuditPageOut.model_validate(body)
    assert isinstance(body, dict)
    return body


async def test_only_owners_read_a_workspace_audit(h: Harness) -> None:
    ada, bob, cy, dan = [await h.person(f"{n}@example.com") for n in ("ada", "bob", "cy", "dan")]
    workspace = await h.team(ada, editor=bob, viewer=cy)
    body = await page(ada, audit_path(workspace))
    assert {e["action"] for e in body["events"]} >= {"workspace.create", "member.add"}
    for person, code in ((bob, "forbidden"), (cy, "forbidden"), (dan, "not_member")):
        status, refused = await person.call("GET", audit_path(workspace))
        assert (status, refused["code"]) == (403, code), person.email
    assert (await bob.call("GET", audit_path(workspace)))[1]["message"] == "Requires owner role or higher"
    anonymous = await h.anonymous()
    response = await anonymous.http.get(audit_path(workspace))
    assert (response.status, (await response.json())["code"]) == (401, "unauthorized")
    status, malformed = await ada.call("GET", audit_path("bad.id"))
    assert (status, malformed["message"]) == (400, "Invalid workspace id")
    status, missing = await ada.call("GET", audit_path(str(uuid.uuid4())))
    assert (status, missing["code"]) == (404, "not_found")
    # The same refusals as another owner route (member.add), for the same callers.
    for person in (bob, dan):
        assert (await person.call("GET", audit_path(workspace)))[1]["code"] == (await person.call(
            "POST", f"/api/v1/workspaces/{workspace}/members", {"userId": ada.id, "role": "viewer"}))[1]["code"]


@pytest.mark.parametrize("query", ["limit=0", "limit=201", "limit=abc", "limit=1.5", "before=", "limit=-3"])
async def test_bad_paging_is_a_validation_error(h: Harness, query: str) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    for path in (audit_path(workspace, query), f"/api/v1/me/activity?{query}"):
        status, body = await ada.call("GET", path)
        assert (status, body["code"]) == (400, "validation_failed"), (path, body)
        assert set(body) == {"error", "code", "message", "requestId"}


async def test_pages_walk_every_event_once_and_a_tampered_cursor_is_refused(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    for n in range(7):
        status, _ = await ada.call("PUT", f"/api/v1/workspaces/{workspace}", {"name": f"Name {n}"})
        assert status == 200
    everything = (await page(ada, audit_path(workspace, "limit=200")))["events"]
    assert isinstance(everything, list) and len(everything) == 8
    seen: list[str] = []
    cursor = None
    while True:
        body = await page(ada, audit_path(workspace, "limit=3" + (f"&before={cursor}" if cursor else "")))
        seen += [e["id"] for e in body["events"]]
        cursor = body["nextCursor"]
        if cursor is None:
            break
        # A cursor changed anywhere, or made by hand, is refused.
        raw = base64.urlsafe_b64decode(str(cursor) + "=" * (-len(str(cursor)) % 4)).decode()
        forged = raw.replace(raw.split(".")[2], str(uuid.uuid4()))
        for bad in (str(cursor)[:-2] + ("AA" if not str(cursor).endswith("AA") else "BB"),
                    base64.urlsafe_b64encode(forged.encode()).decode().rstrip("="), "%%%", "x" * 300):
            status, refused = await ada.call("GET", audit_path(workspace, f"before={bad}"))
            assert (status, refused["code"]) == (400, "validation_failed"), bad
    assert seen == [e["id"] for e in everything]
    created = [e["createdAt"] for e in everything]
    assert created == sorted(created, reverse=True)


async def test_my_activity_holds_my_events_and_never_another_users_auth_events(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    await bob.client.sign_out()
    await bob.client.sign_in("bob@example.com")
    await ada.client.sign_in("bob@example.com", "wrong-password-123", expect=401)
    await ada.client.drain()  # the failed sign-in's event is written after the answer
    workspace = await h.team(ada, editor=bob)
    mine = (await page(ada, "/api/v1/me/activity"))["events"]
    theirs = (await page(bob, "/api/v1/me/activity?limit=200"))["events"]
    assert isinstance(mine, list) and isinstance(theirs, list)
    assert {e["action"] for e in mine} == {"auth.sign_up", "workspace.create", "member.add"}
    assert all(e["actorId"] == ada.id or e["targetId"] == ada.id for e in mine)
    assert not [e for e in mine if e["action"].startswith("auth.") and e["targetId"] != ada.id]
    bob_actions = sorted(e["action"] for e in theirs)
    assert bob_actions == ["auth.sign_in", "auth.sign_in_failed", "auth.sign_out", "auth.sign_up",
                           "member.add", "workspace.create"]
    added = next(e for e in theirs if e["action"] == "member.add")
    assert (added["actorId"], added["actorEmail"], added["workspaceId"], added["targetId"]) == (
        ada.id, "ada@example.com", workspace, bob.id)
    failed = next(e for e in theirs if e["action"] == "auth.sign_in_failed")
    assert failed["actorId"] is None and failed["targetId"] == bob.id
    anonymous = await h.anonymous()
    assert (await anonymous.http.get("/api/v1/me/activity")).status == 401


async def test_events_carry_the_request_client_and_never_a_secret(h: Harness) -> None:
    secret_value = "sk-live-" + uuid.uuid4().hex
    ada = await h.person("ada@example.com", headers={"User-Agent": "AuditTest/1.0", "x-request-id": "req-signup"})
    workspace = await ada.default_workspace()
    status, _ = await ada.call("PUT", f"/api/v1/workspaces/{workspace}/settings", {"OPENAI_API_KEY": secret_value},
                               headers={"x-request-id": "req-settings"})
    assert status == 200
    assert (await ada.call("DELETE", f"/api/v1/workspaces/{workspace}/settings/OPENAI_API_KEY"))[0] == 200
    assert (await ada.call("DELETE", f"/api/v1/workspaces/{workspace}/settings/OPENAI_API_KEY"))[1]["code"] == \
        "not_found"
    body = await page(ada, audit_path(workspace))
    events = {e["action"]: e for e in body["events"]}
    assert events["settings.update"]["details"] == {"keys": ["OPENAI_API_KEY"]}
    assert events["settings.update"]["requestId"] == "req-settings"
    assert events["settings.delete"]["details"] == {"key": "OPENAI_API_KEY"}
    activity = await page(ada, "/api/v1/me/activity")
    sign_up = next(e for e in activity["events"] if e["action"] == "auth.sign_up")
    assert (sign_up["userAgent"], sign_up["requestId"], sign_up["ip"]) == ("AuditTest/1.0", "req-signup", "127.0.0.1")
    everything = json.dumps(await h.backend.audit.search(limit=1000), default=str)
    for secret in (secret_value, STRONG_PASSWORD, h.app[CONFIG].auth.secret):
        assert secret not in everything


async def test_a_deleted_actor_is_shown_as_deleted_and_their_own_activity_goes(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(ada, editor=bob)
    assert (await bob.call("PUT", f"/api/v1/workspaces/{workspace}", {"name": "Renamed by Bob"}))[0] == 200
    assert (await bob.call("DELETE", "/api/v1/me", {"confirm": "bob@example.com"}))[0] == 200
    events = (await page(ada, audit_path(workspace)))["events"]
    assert isinstance(events, list)
    renamed = next(e for e in events if e["action"] == "workspace.update")
    assert (renamed["actorId"], renamed["actorEmail"], renamed["actorDeleted"]) == (bob.id, None, True)
    assert renamed["details"] == {"oldName": "Default workspace", "newName": "Renamed by Bob"}
    owner_event = next(e for e in events if e["action"] == "workspace.create")
    assert (owner_event["actorEmail"], owner_event["actorDeleted"]) == ("ada@example.com", False)
    left = await h.backend.audit.search(user_id=bob.id, limit=100)
    # His auth events went; workspace events stay (also those of his own default workspace, which the
    # deletion removed with him), and the deletion itself is recorded.
    assert sorted(e.action for e in left) == ["account.delete", "member.add", "workspace.create", "workspace.update"]
    assert all(e.workspace_id is not None for e in left if e.action != "account.delete")


async def test_the_server_sweeps_events_past_the_retention_in_the_background(
        aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> None:
    old = await backend.audit.append(AuditRecord("auth.sign_in", actor_id=str(uuid.uuid4())))
    clock.advance(days=31)
    recent = await backend.audit.append(AuditRecord("auth.sign_in", actor_id=str(uuid.uuid4())))
    harness = await open_harness(aiohttp_client, backend, clock, config=make_config(AUDIT_RETENTION_DAYS="30"))
    try:
        for _ in range(200):  # the sweep runs as the server starts, off the request path
            if len(await backend.audit.search()) == 1:
                break
            await asyncio.sleep(0.01)
    finally:
        await harness.server.close()
    assert [e.id for e in await backend.audit.search()] == [recent.id]
    assert old.id != recent.id
