"""Invites, owner side, over HTTP on every backend: creation with and without mail, listings, revocation,
``Idempotency-Key``, the rate limits (docs/compatibility.md, fixes 2 to 5 and 9)."""

from __future__ import annotations

import asyncio
import hashlib
import json
import logging
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from localcore import load_config
from localcore.clock import ManualClock
from localcore.config import Config
from localcore.mail import Mailer
from localcore.mail.transports import MailDeliveryError, MailMessage
from localcore.store import Backend
from localcore.testing.workspace_support import raw_workspaces
from localcore.workspaces import idempotency
from localcore.workspaces import models as m
from tests.api.auth_support import BASE_ENV
from tests.api.workspace_fixtures import AiohttpClient, Harness, gather_calls, open_harness, token_of


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


def invites_path(workspace: str, invite: str = "") -> str:
    return f"/api/v1/workspaces/{workspace}/invites" + (f"/{invite}" if invite else "")


def config_with(tmp_path: Path, toml: str, **env: str) -> Config:
    path = tmp_path / "boring.app.toml"
    path.write_text(toml)
    return load_config(path, env={**BASE_ENV, **env})


async def test_creating_with_mail_off_returns_the_link_to_pass_on(h: Harness, clock: ManualClock) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    status, body = await ada.call("POST", invites_path(workspace), {"email": " Bob@Example.com ", "role": "viewer"})
    assert status == 201
    m.InviteCreatedOut.model_validate(body)
    assert set(body) == {"invite", "warning", "acceptUrl"} and body["warning"] == "mail_disabled"
    invite = body["invite"]
    assert (invite["email"], invite["role"], invite["workspaceId"], invite["createdBy"], invite["acceptedAt"]) == (
        "bob@example.com", "viewer", workspace, ada.id, None)
    assert set(invite) == {"id", "workspaceId", "email", "role", "expiresAt", "acceptedAt", "createdBy", "createdAt"}
    assert body["acceptUrl"].startswith("http://127.0.0.1/invites/")
    token = token_of(body["acceptUrl"])
    stored = await raw_workspaces(h.backend).get_invite(workspace, invite["id"])
    assert stored is not None and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    assert stored.expires_at == clock() + timedelta(days=7)
    assert invite["expiresAt"] == (clock() + timedelta(days=7)).strftime("%Y-%m-%dT%H:%M:%S.000Z")


async def test_only_owners_create_and_bodies_are_strict(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob)
    status, body = await bob.call("POST", invites_path(workspace), {"email": "x@example.com", "role": "viewer"})
    assert (status, body["code"]) == (403, "forbidden")
    status, body = await cy.call("POST", invites_path(workspace), {"email": "x@example.com", "role": "viewer"})
    assert (status, body["code"]) == (403, "not_member")
    for bad in ({"email": "not-an-email", "role": "viewer"}, {"email": "x@example.com", "role": "admin"},
                {"email": "x@example.com", "role": "viewer", "extra": True}, {"role": "viewer"}, {}):
        status, body = await ada.call("POST", invites_path(workspace), bad)
        assert (status, body["code"]) == (400, "validation_failed"), bad
    # Owners may invite owners; duplicates for one email are allowed.
    for _ in range(2):
        assert (await ada.call("POST", invites_path(workspace), {"email": "x@example.com", "role": "owner"}))[0] == 201


async def test_listing_never_exposes_token_hashes_or_lockout_state(h: Harness, clock: ManualClock) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, viewer=cy)
    pending, _ = await h.invite(ada, workspace, "pending@example.com", "viewer")
    clock.advance(seconds=1)
    accepted, token = await h.invite(ada, workspace, "bob@example.com", "editor")
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": token}))[0] == 200
    await h.backend.workspaces.increment_invite_failed_attempts(pending["id"])
    for who in (ada, cy):  # viewers too, as upstream
        status, body = await who.call("GET", invites_path(workspace))
        assert status == 200
        m.InvitesOut.model_validate(body)
        assert [i["id"] for i in body["invites"]] == [pending["id"], accepted["id"]]
        text = json.dumps(body)
        for secret in ("tokenHash", "failedAttempts", "lockedUntil", hashlib.sha256(token.encode()).hexdigest()):
            assert secret not in text
        assert body["invites"][1]["acceptedAt"] is not None
    outsider = await h.person("dan@example.com")
    assert (await outsider.call("GET", invites_path(workspace)))[1]["code"] == "not_member"


async def test_revoking_is_owner_only_and_final(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob)
    invite, token = await h.invite(ada, workspace, "dan@example.com")
    assert (await bob.call("DELETE", invites_path(workspace, invite["id"])))[1]["code"] == "forbidden"
    assert (await cy.call("DELETE", invites_path(workspace, invite["id"])))[1]["code"] == "not_member"
    assert await ada.call("DELETE", invites_path(workspace, invite["id"])) == (200, {"revoked": True})
    status, body = await ada.call("DELETE", invites_path(workspace, invite["id"]))
    assert (status, body["code"], body["message"]) == (404, "not_found", "Invite not found")
    dan = await h.person("dan@example.com")
    assert (await dan.call("POST", "/api/v1/invites/resolve", {"token": token}))[1]["code"] == "invite_not_found"
    # An invite of another workspace cannot be revoked through this one.
    other = await bob.default_workspace()
    foreign, _ = await h.invite(bob, other, "eve@example.com")
    assert (await ada.call("DELETE", invites_path(workspace, foreign["id"])))[0] == 404


async def test_with_mail_on_the_invite_links_to_the_shell_page(
        aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock,
        caplog: pytest.LogCaptureFixture) -> None:
    h = await open_harness(aiohttp_client, backend, clock, mail=True)
    caplog.set_level(logging.DEBUG)
    ada = await h.person("ada@example.com", "Ada Lovelace")
    workspace = await ada.default_workspace()
    status, body = await ada.call("POST", invites_path(workspace), {"email": "bob@example.com", "role": "editor"})
    assert status == 201 and set(body) == {"invite"}
    (mail,) = await ada.client.mails("bob@example.com", "invited you")
    assert mail["subject"] == "Ada Lovelace invited you to Default workspace"
    assert "editor" in mail["text"] and "7 days" in mail["text"]
    (link,) = [u for u in mail["links"] if "/invites/" in u]
    token = token_of(link)
    assert link == f"http://127.0.0.1/invites/{token}"
    stored = await raw_workspaces(h.backend).get_invite(workspace, body["invite"]["id"])
    assert stored is not None and stored.token_hash == hashlib.sha256(token.encode()).hexdigest()
    bob = await h.person("bob@example.com")
    assert (await bob.call("POST", "/api/v1/invites/resolve", {"token": token}))[0] == 200
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": token}))[0] == 200
    assert all(token not in record.getMessage() for record in caplog.records)


async def test_the_invite_mail_states_the_configured_ttl(
        aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock, tmp_path: Path) -> None:
    config = config_with(tmp_path, "[features]\ninvite_ttl_days = 1\n")
    h = await open_harness(aiohttp_client, backend, clock, config=config, mail=True)
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    status, body = await ada.call("POST", invites_path(workspace), {"email": "bob@example.com", "role": "viewer"})
    assert status == 201
    stored = await raw_workspaces(h.backend).get_invite(workspace, body["invite"]["id"])
    assert stored is not None and stored.expires_at == clock() + timedelta(days=1)
    (mail,) = await ada.client.mails("bob@example.com", "invited you")
    assert "1 day" in mail["text"] and "1 days" not in mail["text"]


class _BrokenTransport:
    scheme = "broken"

    async def send(self, message: MailMessage, *, sender: str) -> str:
        raise MailDeliveryError("SMTP send failed: connection refused")

    async def close(self) -> None:
        pass


async def test_a_failed_invite_mail_still_answers_201_without_a_warning(
        aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> None:
    mailer = Mailer(_BrokenTransport(), sender="Test <t@example.com>", app_name="boring-app")
    h = await open_harness(aiohttp_client, backend, clock, mailer=mailer)
    ada = await h.person("ada@example.com")
    status, body = await ada.call("POST", invites_path(await ada.default_workspace()),
                                  {"email": "bob@example.com", "role": "viewer"})
    assert status == 201 and set(body) == {"invite"}


async def test_disabled_invites_are_refused(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock,
                                            tmp_path: Path) -> None:
    config = config_with(tmp_path, "[features]\ninvites_enabled = false\n")
    h = await open_harness(aiohttp_client, backend, clock, config=config)
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    status, body = await ada.call("POST", invites_path(workspace), {"email": "bob@example.com", "role": "viewer"},
                                  headers={"Idempotency-Key": "k1"})
    assert (status, body["code"]) == (403, "invites_disabled")
    assert await h.backend.workspaces.list_invites(workspace) == []
    assert (await ada.call("GET", invites_path(workspace)))[0] == 200


# --------------------------------------------------------------------------- idempotency (docs/compatibility.md, fix 9)


async def _records(backend: Backend, clock: ManualClock) -> int:
    """How many idempotency records exist (sweeping everything counts them; the test is over after)."""
    return await backend.idempotency.sweep(clock() + timedelta(days=365))


async def test_a_repeated_key_replays_the_first_answer(h: Harness, clock: ManualClock) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    key = {"Idempotency-Key": "k"}
    first = await ada.call("POST", invites_path(workspace), {"email": "bob@example.com", "role": "viewer"}, headers=key)
    again = await ada.call("POST", invites_path(workspace), {"email": "other@example.com", "role": "owner"},
                           headers=key)
    assert first[0] == 201 and again == first
    assert [i.email for i in await h.backend.workspaces.list_invites(workspace)] == ["bob@example.com"]
    record = await h.backend.idempotency.claim(f"invites:{ada.id}:{workspace}:k", now=clock())
    assert record is not None and (record.status, record.response_status) == ("done", 201)
    assert record.response_body == first[1]
    third = await ada.call("POST", invites_path(workspace), {"email": "cy@example.com", "role": "viewer"},
                           headers={"Idempotency-Key": "k2"})
    assert third[0] == 201 and third[1]["invite"]["id"] != first[1]["invite"]["id"]
    await ada.call("POST", invites_path(workspace), {"email": "dan@example.com", "role": "viewer"})
    assert len(await h.backend.workspaces.list_invites(workspace)) == 3
    assert await _records(h.backend, clock) == 2  # k and k2; the header-less request stored nothing


async def test_keys_are_scoped_to_the_user_and_the_workspace(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    adas = await ada.default_workspace()
    second = (await ada.call("POST", "/api/v1/workspaces", {"name": "Second"}))[1]["workspace"]["id"]
    bobs = await bob.default_workspace()
    key = {"Idempotency-Key": "same"}
    answers = [await ada.call("POST", invites_path(adas), {"email": "x@example.com", "role": "viewer"}, headers=key),
               await ada.call("POST", invites_path(second), {"email": "x@example.com", "role": "viewer"}, headers=key),
               await bob.call("POST", invites_path(bobs), {"email": "x@example.com", "role": "viewer"}, headers=key)]
    assert [s for s, _ in answers] == [201, 201, 201]
    assert len({b["invite"]["id"] for _, b in answers}) == 3


async def test_old_keys_are_swept_after_a_day(h: Harness, clock: ManualClock) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    key = {"Idempotency-Key": "daily"}
    first = await ada.call("POST", invites_path(workspace), {"email": "a@example.com", "role": "viewer"}, headers=key)
    clock.advance(hours=25)
    await ada.call("POST", invites_path(workspace), {"email": "b@example.com", "role": "viewer"},
                   headers={"Idempotency-Key": "other"})
    assert await h.backend.idempotency.claim(f"invites:{ada.id}:{workspace}:daily", now=clock()) is None
    await h.backend.idempotency.release(f"invites:{ada.id}:{workspace}:daily")
    later = await ada.call("POST", invites_path(workspace), {"email": "c@example.com", "role": "viewer"}, headers=key)
    assert later[0] == 201 and later[1]["invite"]["id"] != first[1]["invite"]["id"]


async def test_failures_are_not_cached_and_guards_come_first(h: Harness, clock: ManualClock) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace = await h.team(ada, editor=bob)
    key = {"Idempotency-Key": "retry-me"}
    assert (await bob.call("POST", invites_path(workspace), {"email": "x@example.com", "role": "viewer"},
                           headers=key))[0] == 403
    assert (await ada.call("POST", invites_path(workspace), {"email": "nope", "role": "viewer"}, headers=key))[0] == 400
    fixed = await ada.call("POST", invites_path(workspace), {"email": "x@example.com", "role": "viewer"}, headers=key)
    assert fixed[0] == 201
    status, body = await ada.call("POST", invites_path(workspace), {"email": "x@example.com", "role": "viewer"},
                                  headers={"Idempotency-Key": "k" * 256})
    assert (status, body["code"]) == (400, "validation_failed")
    assert await _records(h.backend, clock) == 1


@pytest.mark.parametrize("round_", range(2))
async def test_concurrent_duplicates_run_the_handler_once(h: Harness, monkeypatch: pytest.MonkeyPatch,
                                                          round_: int) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    store = h.backend.workspaces
    original = store.create_invite
    calls = 0

    async def slow_create(*args: Any, **kwargs: Any) -> Any:
        nonlocal calls
        calls += 1
        await asyncio.sleep(0.2)
        return await original(*args, **kwargs)

    monkeypatch.setattr(store, "create_invite", slow_create)
    key = {"Idempotency-Key": "double-click"}
    answers = await gather_calls(*(ada.call("POST", invites_path(workspace), {"email": "bob@example.com",
                                                                              "role": "viewer"}, headers=key)
                                   for _ in range(3)))
    assert [s for s, _ in answers] == [201, 201, 201]
    assert len({json.dumps(b, sort_keys=True) for _, b in answers}) == 1
    assert calls == 1
    assert len(await h.backend.workspaces.list_invites(workspace)) == 1


async def test_a_duplicate_that_waits_too_long_gets_409(h: Harness, clock: ManualClock,
                                                        monkeypatch: pytest.MonkeyPatch) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    monkeypatch.setattr(idempotency, "WAIT_SECONDS", 0.2)
    assert await h.backend.idempotency.claim(f"invites:{ada.id}:{workspace}:busy", now=clock()) is None
    status, body = await ada.call("POST", invites_path(workspace), {"email": "bob@example.com", "role": "viewer"},
                                  headers={"Idempotency-Key": "busy"})
    assert (status, body["code"]) == (409, "idempotency_in_progress")
    assert await h.backend.workspaces.list_invites(workspace) == []


# --------------------------------------------------------------------------- rate limits


async def test_invite_creation_is_limited_per_workspace(aiohttp_client: AiohttpClient, backend: Backend,
                                                        clock: ManualClock) -> None:
    config = load_config(env={**BASE_ENV, "LOCALCORE_RATE_LIMITS": "on", "RATE_LIMIT_OVERRIDES_JSON": json.dumps(
        {"/auth/sign-up/email": {"max": 100, "window": "1 hour"}})})
    h = await open_harness(aiohttp_client, backend, clock, config=config)
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    workspace, other = await ada.default_workspace(), await bob.default_workspace()
    for n in range(20):
        status, body = await ada.call("POST", invites_path(workspace), {"email": f"u{n}@example.com", "role": "viewer"},
                                      headers={"X-Forwarded-For": f"10.0.0.{n}"})
        assert status == 201, body
    status, body = await ada.call("POST", invites_path(workspace), {"email": "late@example.com", "role": "viewer"},
                                  headers={"X-Forwarded-For": "10.0.1.1"})
    assert (status, body["code"]) == (429, "rate_limited")
    assert (await bob.call("POST", invites_path(other), {"email": "x@example.com", "role": "viewer"}))[0] == 201
    clock.advance(hours=1, seconds=1)
    assert (await ada.call("POST", invites_path(workspace), {"email": "late@example.com", "role": "viewer"}))[0] == 201


async def test_refused_invite_attempts_do_not_use_up_the_owners_budget(
        aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> None:
    config = load_config(env={**BASE_ENV, "LOCALCORE_RATE_LIMITS": "on", "RATE_LIMIT_OVERRIDES_JSON": json.dumps(
        {"/auth/sign-up/email": {"max": 100, "window": "1 hour"},
         "POST /api/v1/workspaces/:id/invites": {"max": 2, "window": "1 hour"}})})
    h = await open_harness(aiohttp_client, backend, clock, config=config)
    ada, mallory = await h.person("ada@example.com"), await h.person("mallory@example.com")
    workspace = await ada.default_workspace()
    for n in range(5):  # a non-member hammering the route is refused without counting
        status, _ = await mallory.call("POST", invites_path(workspace), {"email": f"m{n}@example.com",
                                                                        "role": "viewer"})
        assert status == 403
    for n in range(2):
        status, body = await ada.call("POST", invites_path(workspace), {"email": f"u{n}@example.com", "role": "viewer"})
        assert status == 201, body
    status, body = await ada.call("POST", invites_path(workspace), {"email": "late@example.com", "role": "viewer"})
    assert (status, body["code"]) == (429, "rate_limited")


async def test_resolve_and_accept_are_limited(aiohttp_client: AiohttpClient, backend: Backend,
                                              clock: ManualClock) -> None:
    config = load_config(env={**BASE_ENV, "LOCALCORE_RATE_LIMITS": "on", "TRUST_PROXY": "1",
                              "RATE_LIMIT_OVERRIDES_JSON": json.dumps(
                                  {"/auth/sign-up/email": {"max": 100, "window": "1 hour"}})})
    h = await open_harness(aiohttp_client, backend, clock, config=config)
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    ip = {"X-Forwarded-For": "1.2.3.4"}
    for _ in range(60):
        assert (await ada.call("POST", "/api/v1/invites/resolve", {"token": "bogus"}, headers=ip))[0] == 404
    assert (await ada.call("POST", "/api/v1/invites/resolve", {"token": "bogus"}, headers=ip))[0] == 429
    assert (await ada.call("POST", "/api/v1/invites/resolve", {"token": "bogus"},
                           headers={"X-Forwarded-For": "5.6.7.8"}))[0] == 404
    for _ in range(10):
        assert (await ada.call("POST", "/api/v1/invites/accept", {"token": "bogus"}, headers=ip))[0] == 404
    assert (await ada.call("POST", "/api/v1/invites/accept", {"token": "bogus"}, headers=ip))[0] == 429
    assert (await bob.call("POST", "/api/v1/invites/accept", {"token": "bogus"}, headers=ip))[0] == 404
