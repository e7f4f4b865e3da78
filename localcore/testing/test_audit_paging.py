"""Audit paging (newest first, cursors without gaps or repeats under concurrent writes), the page-size
rule, operators' search, the retention sweep and what an account deletion keeps."""

from __future__ import annotations

import asyncio
from datetime import timedelta

import pytest

from localcore.contract.audit import AuditCursor, AuditEvent, AuditRecord
from localcore.contract.clock import ManualClock
from localcore.store import Backend

WS = "11111111-1111-4111-8111-111111111111"
OTHER = "22222222-2222-4222-8222-222222222222"
ALICE = "33333333-3333-4333-8333-333333333333"


def order(events: list[AuditEvent]) -> list[AuditCursor]:
    return [e.cursor for e in events]


async def walk(backend: Backend, limit: int, during: list[AuditRecord] | None = None) -> list[AuditEvent]:
    """Every page of the workspace, inserting one of ``during`` between pages (a concurrent writer)."""
    seen: list[AuditEvent] = []
    before = None
    pending = list(during or [])
    while True:
        writes = [asyncio.create_task(backend.audit.append(pending.pop())) for _ in range(min(2, len(pending)))]
        page = await backend.audit.list_for_workspace(WS, limit=limit, before=before)  # while they run
        await asyncio.gather(*writes)
        seen += page
        if len(page) < limit:
            return seen
        before = page[-1].cursor


async def test_pages_are_newest_first_without_gaps_or_repeats_under_concurrent_writes(
        backend: Backend, clock: ManualClock) -> None:
    original = []
    for n in range(23):
        if n % 3 == 0:
            clock.advance(seconds=1)  # several events share a timestamp: the id breaks the tie
        original.append(await backend.audit.append(AuditRecord("member.add", workspace_id=WS,
                                                               details={"n": n})))
    await backend.audit.append(AuditRecord("member.add", workspace_id=OTHER))
    concurrent = [AuditRecord("member.remove", workspace_id=WS, details={"late": n}) for n in range(9)]
    seen = await walk(backend, 5, concurrent)
    ids = [e.id for e in seen]
    assert len(ids) == len(set(ids)), "no event is seen twice"
    assert {e.id for e in original} <= set(ids), "no event older than the walk's start is missed"
    assert order(seen) == sorted(order(seen), reverse=True)
    assert all(e.workspace_id == WS for e in seen)


async def test_a_page_starts_strictly_after_its_cursor(backend: Backend) -> None:
    events = [await backend.audit.append(AuditRecord("workspace.update", workspace_id=WS)) for _ in range(4)]
    newest_first = sorted(events, key=lambda e: e.cursor, reverse=True)
    first = await backend.audit.list_for_workspace(WS, limit=2)
    assert first == newest_first[:2]
    rest = await backend.audit.list_for_workspace(WS, limit=200, before=first[-1].cursor)
    assert rest == newest_first[2:]
    assert await backend.audit.list_for_workspace(WS, limit=3, before=newest_first[-1].cursor) == []


@pytest.mark.parametrize("limit", [0, -1, 201])
async def test_a_page_size_outside_1_to_200_is_refused(backend: Backend, limit: int) -> None:
    with pytest.raises(ValueError):
        await backend.audit.list_for_workspace(WS, limit=limit)
    with pytest.raises(ValueError):
        await backend.audit.list_for_user(ALICE, limit=limit)


async def test_user_activity_is_what_they_did_or_were_the_target_of(backend: Backend) -> None:
    did = await backend.audit.append(AuditRecord("member.add", actor_id=ALICE, workspace_id=WS,
                                                 target_type="user", target_id=OTHER))
    about = await backend.audit.append(AuditRecord("member.remove", actor_id=OTHER, workspace_id=WS,
                                                   target_type="user", target_id=ALICE))
    await backend.audit.append(AuditRecord("auth.sign_in", actor_id=OTHER, target_type="user", target_id=OTHER))
    # An id that is some other kind of target is not the user.
    await backend.audit.append(AuditRecord("workspace.update", actor_id=OTHER, target_type="workspace",
                                           target_id=ALICE))
    found = await backend.audit.list_for_user(ALICE, limit=50)
    assert {e.id for e in found} == {did.id, about.id}


async def test_search_combines_its_filters(backend: Backend, clock: ManualClock) -> None:
    old = await backend.audit.append(AuditRecord("member.add", actor_id=ALICE, workspace_id=WS))
    clock.advance(hours=1)
    cutoff = clock()
    new = await backend.audit.append(AuditRecord("member.add", actor_id=ALICE, workspace_id=WS))
    other = await backend.audit.append(AuditRecord("member.remove", actor_id=ALICE, workspace_id=OTHER))
    assert [e.id for e in await backend.audit.search(workspace_id=WS, action="member.add")] == [new.id, old.id]
    assert [e.id for e in await backend.audit.search(user_id=ALICE, since=cutoff)] == sorted(
        [new.id, other.id], key=lambda i: (clock(), i), reverse=True)
    assert [e.id for e in await backend.audit.search(limit=1)] == [max(new, other, key=lambda e: e.cursor).id]
    with pytest.raises(ValueError):
        await backend.audit.search(limit=0)


async def test_the_retention_sweep_deletes_only_older_events(backend: Backend, clock: ManualClock) -> None:
    await backend.audit.append(AuditRecord("auth.sign_in", actor_id=ALICE))
    clock.advance(days=10)
    boundary = clock()
    kept = [await backend.audit.append(AuditRecord("auth.sign_in", actor_id=ALICE))]
    clock.advance(days=1)
    kept.append(await backend.audit.append(AuditRecord("auth.sign_out", actor_id=ALICE)))
    assert await backend.audit.sweep(boundary) == 1
    assert await backend.audit.sweep(boundary) == 0
    assert {e.id for e in await backend.audit.search()} == {e.id for e in kept}
    assert await backend.audit.sweep(boundary + timedelta(days=2)) == 2


async def test_account_deletion_keeps_workspace_events_and_drops_personal_ones(backend: Backend) -> None:
    ada = await backend.users.create_user(email="ada@example.com", audit=AuditRecord("auth.sign_up"))
    bob = await backend.users.create_user(email="bob@example.com", audit=AuditRecord("auth.sign_up"))
    ws = await backend.workspaces.create_workspace(user_id=bob.id, name="B", app_id="a")
    await backend.workspaces.add_member(ws.id, ada.id, "editor", audit=AuditRecord(
        "member.add", actor_id=bob.id, workspace_id=ws.id, target_type="user", target_id=ada.id))
    await backend.workspaces.update_workspace(ws.id, name="B2", audit=AuditRecord(
        "workspace.update", actor_id=ada.id, workspace_id=ws.id, target_type="workspace", target_id=ws.id))
    await backend.audit.append(AuditRecord("auth.sign_in_failed", target_type="user", target_id=ada.id))
    assert await backend.metering.grant_once(ada.id, "starter", 1_000_000, audit=AuditRecord("credits.grant"))
    assert await backend.users.delete_user_completely(ada.id, audit=AuditRecord("account.delete", actor_id=ada.id))
    left = await backend.audit.search()
    assert sorted(e.action for e in left) == ["account.delete", "auth.sign_up", "member.add", "workspace.update"]
    assert [e.actor_id for e in left if e.action == "workspace.update"] == [ada.id]  # kept, by id
    [deleted] = [e for e in left if e.action == "account.delete"]
    assert (deleted.target_type, deleted.target_id) == ("user", ada.id)
    assert sorted(e.action for e in await backend.audit.list_for_user(bob.id, limit=10)) == [
        "auth.sign_up", "member.add"]
    assert not await backend.users.delete_user_completely(ada.id, audit=AuditRecord("account.delete"))
    assert len(await backend.audit.search()) == 4
