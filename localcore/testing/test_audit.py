"""The audit store (``backend.audit``) and the same-transaction rule, on every backend.

An audited write stores its event exactly when it stores its change: a write that raises (a duplicate
email, a duplicate member, a refused role change, a conflicting ledger replay) or changes nothing (a
replayed grant, a missing invite) leaves no event. Paging, the retention sweep and the account-deletion
rule are in ``test_audit_paging.py``.
"""

from __future__ import annotations

from datetime import timedelta

import pytest

from localcore.contract.audit import AuditEvent, AuditRecord
from localcore.contract.errors import ConstraintViolation, DuplicateEmail, MembershipError
from localcore.contract.ledger import MeteringConflictError
from localcore.store import Backend, User


def rec(action: str, **fields: object) -> AuditRecord:
    return AuditRecord(action=action, ip="203.0.113.7", user_agent="test-agent", request_id="req-1",
                       **fields)  # type: ignore[arg-type]


async def everything(backend: Backend) -> list[AuditEvent]:
    return await backend.audit.search(limit=10_000)


async def actions(backend: Backend) -> list[str]:
    return sorted(e.action for e in await everything(backend))


async def person(backend: Backend, name: str) -> User:
    return await backend.users.create_user(email=f"{name}@example.com", name=name)


async def test_a_sign_up_event_is_completed_with_the_new_user(backend: Backend) -> None:
    user = await backend.users.create_user(email="ada@example.com", password_hash="h",
                                           audit=rec("auth.sign_up", details={"method": "password"}))
    [event] = await backend.audit.list_for_user(user.id, limit=10)
    assert (event.action, event.actor_id, event.target_type, event.target_id) == (
        "auth.sign_up", user.id, "user", user.id)
    assert (event.ip, event.user_agent, event.request_id, event.workspace_id) == (
        "203.0.113.7", "test-agent", "req-1", None)
    assert event.details == {"method": "password"}
    assert event.created_at == user.created_at


async def test_a_duplicate_sign_up_leaves_no_event(backend: Backend) -> None:
    await backend.users.create_user(email="ada@example.com", audit=rec("auth.sign_up"))
    with pytest.raises(DuplicateEmail):
        await backend.users.create_user(email="ADA@example.com", password_hash="h", audit=rec("auth.sign_up"))
    assert await actions(backend) == ["auth.sign_up"]


async def test_a_member_add_that_violates_a_constraint_leaves_no_event(backend: Backend) -> None:
    ada, bob = await person(backend, "ada"), await person(backend, "bob")
    ws = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="a",
                                                   audit=rec("workspace.create", actor_id=ada.id))
    add = rec("member.add", actor_id=ada.id, workspace_id=ws.id, target_type="user", target_id=bob.id)
    await backend.workspaces.add_member(ws.id, bob.id, "editor", audit=add)
    with pytest.raises(ConstraintViolation):
        await backend.workspaces.add_member(ws.id, bob.id, "viewer", audit=add)  # already a member
    with pytest.raises(ConstraintViolation):
        await backend.workspaces.add_member(ws.id, "00000000-0000-4000-8000-000000000000", "viewer", audit=add)
    assert await actions(backend) == ["member.add", "workspace.create"]


async def test_a_refused_role_change_or_removal_leaves_no_event(backend: Backend) -> None:
    ada, bob = await person(backend, "ada"), await person(backend, "bob")
    ws = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="a")
    await backend.workspaces.add_member(ws.id, bob.id, "viewer")
    with pytest.raises(MembershipError):
        await backend.workspaces.update_member_role(ws.id, ada.id, "viewer", actor_id=ada.id,
                                                    audit=rec("member.role_change"))  # the last owner
    with pytest.raises(MembershipError):
        await backend.workspaces.remove_member(ws.id, ada.id, actor_id=ada.id,
                                               audit=rec("member.remove"))  # the last owner
    assert await everything(backend) == []


async def test_workspace_writes_complete_their_events(backend: Backend) -> None:
    ada, bob = await person(backend, "ada"), await person(backend, "bob")
    ws = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="a",
                                                   audit=rec("workspace.create", actor_id=ada.id))
    await backend.workspaces.add_member(ws.id, bob.id, "viewer")
    await backend.workspaces.update_member_role(ws.id, bob.id, "editor", actor_id=ada.id,
                                                audit=rec("member.role_change", workspace_id=ws.id))
    minted = await backend.workspaces.create_invite(ws.id, email="cy@example.com", role="viewer",
                                                    invited_by=ada.id,
                                                    audit=rec("invite.create", workspace_id=ws.id))
    await backend.workspaces.remove_member(ws.id, bob.id, actor_id=ada.id,
                                           audit=rec("member.remove", workspace_id=ws.id))
    events = {e.action: e for e in await backend.audit.list_for_workspace(ws.id, limit=50)}
    created = events["workspace.create"]
    assert (created.workspace_id, created.target_type, created.target_id) == (ws.id, "workspace", ws.id)
    assert created.details == {"name": "W"}
    assert events["member.role_change"].details == {"oldRole": "viewer", "newRole": "editor"}
    assert (events["invite.create"].target_type, events["invite.create"].target_id) == ("invite", minted.invite.id)
    assert events["member.remove"].details == {"role": "editor"}


async def test_writes_that_change_nothing_write_no_event(backend: Backend) -> None:
    ada = await person(backend, "ada")
    ws = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="a")
    missing = "00000000-0000-4000-8000-000000000000"
    assert not await backend.workspaces.revoke_invite(ws.id, missing, audit=rec("invite.revoke"))
    assert not await backend.workspaces.delete_workspace_setting(ws.id, "NOPE", audit=rec("settings.delete"))
    assert await backend.workspaces.update_workspace(missing, name="x", audit=rec("workspace.update")) is None
    assert not await backend.sessions.delete_session("no-such-hash", audit=rec("auth.sign_out"))
    assert await backend.sessions.delete_user_sessions(ada.id, audit=rec("auth.session_revoke")) == 0
    assert await backend.workspaces.delete_workspace(ws.id, audit=rec("workspace.delete"))
    assert not await backend.workspaces.delete_workspace(ws.id, audit=rec("workspace.delete"))
    assert await actions(backend) == ["workspace.delete"]


async def test_settings_events_and_an_unknown_workspace(backend: Backend) -> None:
    ada = await person(backend, "ada")
    ws = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="a")
    await backend.workspaces.put_workspace_settings(ws.id, {"API_KEY": (b"sealed", "k1")},
                                                    audit=rec("settings.update", details={"keys": ["API_KEY"]}))
    assert await backend.workspaces.delete_workspace_setting(ws.id, "API_KEY", audit=rec("settings.delete"))
    assert await backend.workspaces.get_workspace_setting(ws.id, "API_KEY") is None
    with pytest.raises(ConstraintViolation):
        await backend.workspaces.put_workspace_settings("00000000-0000-4000-8000-000000000000",
                                                        {"K": (b"x", "k1")}, audit=rec("settings.update"))
    with pytest.raises(LookupError):
        await backend.workspaces.put_workspace_runtime("00000000-0000-4000-8000-000000000000",
                                                       {"state": "pending"}, audit=rec("runtime.retry"))
    assert await actions(backend) == ["settings.delete", "settings.update"]


async def test_ledger_events_only_with_a_credit_or_debit(backend: Backend) -> None:
    ada = await person(backend, "ada")
    assert await backend.metering.grant_once(ada.id, "starter", 2_000_000, audit=rec("credits.grant"))
    assert not await backend.metering.grant_once(ada.id, "starter", 2_000_000, audit=rec("credits.grant"))
    assert await backend.metering.grant_purchase_once("order-1", ada.id, 5_000_000, currency="EUR",
                                                      audit=rec("credits.purchase"))
    with pytest.raises(MeteringConflictError):  # a replay with another amount fails after its checks
        await backend.metering.grant_purchase_once("order-1", ada.id, 6_000_000, currency="EUR",
                                                   audit=rec("credits.purchase"))
    with pytest.raises(MeteringConflictError):  # an expected currency that differs
        await backend.metering.revoke_purchase("order-1", expected_currency="USD", audit=rec("credits.refund"))
    assert await backend.metering.revoke_purchase("order-1", refund_fraction=0.5, audit=rec("credits.refund"))
    assert not await backend.metering.revoke_purchase("order-1", refund_fraction=0.5, audit=rec("credits.refund"))
    events = {e.action: e for e in await backend.audit.list_for_user(ada.id, limit=50)}
    assert sorted(events) == ["credits.grant", "credits.purchase", "credits.refund"]
    assert len(await everything(backend)) == 3
    assert events["credits.grant"].details == {"amountMicros": 2_000_000, "reason": "starter"}
    assert events["credits.purchase"].details == {"amountMicros": 5_000_000, "orderId": "order-1"}
    assert events["credits.refund"].details == {"amountMicros": 2_500_000, "orderId": "order-1"}
    assert {(e.target_type, e.target_id) for e in events.values()} == {("user", ada.id)}


async def test_session_and_password_events(backend: Backend) -> None:
    ada = await person(backend, "ada")
    later = ada.created_at + timedelta(days=1)
    await backend.sessions.create_session(token_hash="h1", user_id=ada.id, expires_at=later,
                                          audit=rec("auth.sign_in", actor_id=ada.id))
    await backend.sessions.create_session(token_hash="h2", user_id=ada.id, expires_at=later)
    with pytest.raises(ConstraintViolation):  # an unknown user: no session, no event
        await backend.sessions.create_session(token_hash="h3", user_id="00000000-0000-4000-8000-000000000000",
                                              expires_at=later, audit=rec("auth.sign_in"))
    assert await backend.sessions.delete_user_sessions(ada.id, except_token_hash="h1",
                                                       audit=rec("auth.session_revoke")) == 1
    assert await backend.sessions.delete_session("h1", audit=rec("auth.sign_out"))
    await backend.users.set_password_hash(ada.id, "new-hash", audit=rec("auth.password_change"))
    assert await backend.users.update_user(ada.id, email_verified=True, audit=rec("auth.email_verify"))
    found = {e.action: e for e in await everything(backend)}
    assert sorted(found) == ["auth.email_verify", "auth.password_change", "auth.session_revoke", "auth.sign_in",
                             "auth.sign_out"]
    assert found["auth.session_revoke"].details == {"sessions": 1}


async def test_append_writes_an_event_of_its_own(backend: Backend) -> None:
    ada = await person(backend, "ada")
    event = await backend.audit.append(rec("auth.sign_in_failed", target_type="user", target_id=ada.id))
    assert await backend.audit.list_for_user(ada.id, limit=5) == [event]
    assert event.actor_id is None
