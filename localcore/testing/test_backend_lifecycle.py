"""Contract: opening, migrating, pinging and closing a backend; the data model's hard rules."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from datetime import timedelta

import pytest

from backends import open_backend
from localcore.clock import ManualClock
from localcore.store import Backend, ConstraintViolation, DuplicateEmail


async def test_open_gives_a_migrated_backend_that_pings(backend: Backend) -> None:
    assert isinstance(backend, Backend)
    await backend.ping()
    version = await backend.schema_version()
    if backend.kind == "memory":
        assert version == 0
    else:
        assert version >= 2  # core + metering


async def test_opening_twice_migrates_once(empty_backend_url: str) -> None:
    first = await open_backend(empty_backend_url)
    version = await first.schema_version()
    await first.close()
    second = await open_backend(empty_backend_url)
    try:
        assert await second.schema_version() == version
    finally:
        await second.close()


async def test_concurrent_first_opens_in_one_process_migrate_once(empty_backend_url: str) -> None:
    backends = await asyncio.gather(*(open_backend(empty_backend_url) for _ in range(3)))
    try:
        versions = {await b.schema_version() for b in backends}
        assert len(versions) == 1
    finally:
        for b in backends:
            await b.close()


@pytest.mark.shared_storage
def test_concurrent_migrations_from_separate_processes(empty_backend_url: str) -> None:
    env = {**os.environ, "LOCALCORE_KEYRING": "null", "LOCALCORE_ENV": "test"}
    procs = [subprocess.Popen([sys.executable, "-m", "localcore", "migrate", "--database-url", empty_backend_url],
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env) for _ in range(3)]
    outputs = [p.communicate(timeout=60) for p in procs]
    assert [p.returncode for p in procs] == [0, 0, 0], outputs
    versions = {out.decode().rsplit("schema version", 1)[-1].strip() for out, _ in outputs}
    assert len(versions) == 1

    async def applied_rows() -> list[int]:
        backend = await open_backend(empty_backend_url)
        try:
            db = backend.db  # type: ignore[attr-defined]
            rows = await db.fetch("SELECT version FROM schema_migrations ORDER BY version")
            return [int(r["version"]) for r in rows]
        finally:
            await backend.close()

    rows = asyncio.run(applied_rows())
    assert rows == sorted(set(rows)) and len(rows) >= 2


async def test_close_is_idempotent_and_async_context_manager_closes(backend_url: str) -> None:
    async with await open_backend(backend_url) as opened:
        await opened.ping()
    await opened.close()
    if opened.kind != "memory":
        with pytest.raises(Exception):  # noqa: B017 - any error: the pool/connection is gone
            await opened.ping()


@pytest.mark.shared_storage
async def test_an_edited_applied_migration_is_refused(backend: Backend, backend_url: str) -> None:
    db = backend.db  # type: ignore[attr-defined]
    async with db.transaction() as tx:
        await tx.execute("UPDATE schema_migrations SET checksum = 'tampered' WHERE version = 1")
    from backends.sql.migrate import MigrationError

    with pytest.raises(MigrationError, match="was modified"):
        await open_backend(backend_url)


@pytest.mark.shared_storage
async def test_a_database_recorded_with_a_legacy_whole_file_checksum_still_opens(backend: Backend,
                                                                               backend_url: str) -> None:
    """Checksums stopped covering comment lines; a database migrated before that keeps opening (the
    recorded whole-file checksum of the same file is recognised and brought up to date)."""
    from backends.sql.migrate import LEGACY_CHECKSUMS

    db = backend.db  # type: ignore[attr-defined]
    legacy = next(c for c, name in LEGACY_CHECKSUMS.items() if name == f"{db.dialect}/0001_core.sql")
    async with db.transaction() as tx:
        await tx.execute("UPDATE schema_migrations SET checksum = $1 WHERE version = 1", legacy)
    reopened = await open_backend(backend_url)
    try:
        async with reopened.db.transaction() as tx:  # type: ignore[attr-defined]
            current = await tx.fetchval("SELECT checksum FROM schema_migrations WHERE version = 1")
        assert current != legacy and len(current) == 64
    finally:
        await reopened.close()


async def test_unknown_ids_match_nothing_on_every_backend(backend: Backend) -> None:
    for bad in ("abc", "not-a-uuid", "'; DROP TABLE users; --", "0" * 200):
        assert await backend.users.get_user(bad) is None
        assert await backend.workspaces.get_workspace(bad) is None
        assert await backend.workspaces.get_member_role(bad, bad) is None
        assert await backend.users.delete_user_completely(bad) is False


async def test_one_default_workspace_per_creator_and_app(backend: Backend) -> None:
    alice = await backend.users.create_user(email="alice@example.com")
    bob = await backend.users.create_user(email="bob@example.com")
    await backend.workspaces.create_workspace(user_id=alice.id, name="A", app_id="app", is_default=True)
    with pytest.raises(ConstraintViolation) as info:
        await backend.workspaces.create_workspace(user_id=alice.id, name="A2", app_id="app", is_default=True)
    assert info.value.kind == "unique"
    # Nothing half-created: alice still has exactly one workspace.
    assert len(await backend.workspaces.list_workspaces(alice.id, "app")) == 1
    await backend.workspaces.create_workspace(user_id=alice.id, name="B", app_id="other", is_default=True)
    await backend.workspaces.create_workspace(user_id=bob.id, name="C", app_id="app", is_default=True)
    await backend.workspaces.create_workspace(user_id=alice.id, name="D", app_id="app", is_default=False)


async def test_duplicate_emails_are_refused_case_insensitively(backend: Backend) -> None:
    await backend.users.create_user(email="Case@Example.com")
    with pytest.raises(DuplicateEmail):
        await backend.users.create_user(email=" case@example.COM ")
    found = await backend.users.get_user_by_email("CASE@example.com")
    assert found is not None and found.email == "case@example.com"


async def test_roles_are_checked(backend: Backend) -> None:
    user = await backend.users.create_user(email="r@example.com")
    workspace = await backend.workspaces.create_workspace(user_id=user.id, name="W", app_id="app")
    with pytest.raises(ConstraintViolation) as info:
        await backend.workspaces.add_member(workspace.id, user.id, "admin")
    assert info.value.kind == "check"


async def test_rate_limit_windows_count_and_reset(backend: Backend, clock: ManualClock) -> None:
    now = clock()
    hits = [await backend.rate_limits.hit("k", window_seconds=60, now=now) for _ in range(3)]
    assert [h.count for h in hits] == [1, 2, 3]
    assert hits[0].reset_at == now + timedelta(seconds=60)
    later = now + timedelta(seconds=61)
    fresh = await backend.rate_limits.hit("k", window_seconds=60, now=later)
    assert fresh.count == 1 and fresh.reset_at == later + timedelta(seconds=60)
    other = await backend.rate_limits.hit("other", window_seconds=60, now=later)
    assert other.count == 1


async def test_rate_limit_release_takes_back_one_count_of_the_current_window(backend: Backend,
                                                                           clock: ManualClock) -> None:
    now = clock()
    await backend.rate_limits.hit("k", window_seconds=60, now=now)
    second = await backend.rate_limits.hit("k", window_seconds=60, now=now)
    await backend.rate_limits.release("k", second)
    assert (await backend.rate_limits.hit("k", window_seconds=60, now=now)).count == 2
    # A hit from a window that has since been replaced takes nothing back from the new one.
    later = now + timedelta(seconds=61)
    fresh = await backend.rate_limits.hit("k", window_seconds=60, now=later)
    await backend.rate_limits.release("k", second)
    assert (await backend.rate_limits.hit("k", window_seconds=60, now=later)).count == fresh.count + 1
    # Never below zero, and an unknown key is no error.
    for _ in range(5):
        await backend.rate_limits.release("k", fresh)
    assert (await backend.rate_limits.hit("k", window_seconds=60, now=later)).count == 1
    await backend.rate_limits.release("unknown", fresh)


async def test_rate_limit_hits_are_atomic_under_concurrency(backend: Backend, clock: ManualClock) -> None:
    hits = await asyncio.gather(*(backend.rate_limits.hit("burst", window_seconds=60, now=clock())
                                  for _ in range(25)))
    assert sorted(h.count for h in hits) == list(range(1, 26))


@pytest.mark.shared_storage
async def test_rate_limits_are_shared_by_two_openings_of_one_database(backend: Backend, backend_url: str,
                                                                     clock: ManualClock) -> None:
    second = await open_backend(backend_url, clock=clock)
    try:
        await backend.rate_limits.hit("shared", window_seconds=60, now=clock())
        hit = await second.rate_limits.hit("shared", window_seconds=60, now=clock())
        assert hit.count == 2
    finally:
        await second.close()


async def test_idempotency_claims_are_exclusive_and_replayable(backend: Backend, clock: ManualClock) -> None:
    now = clock()
    claims = await asyncio.gather(*(backend.idempotency.claim("u:route:ws:k", now=now) for _ in range(5)))
    assert sum(1 for c in claims if c is None) == 1
    assert all(c is None or c.status == "pending" for c in claims)
    await backend.idempotency.complete("u:route:ws:k", status=201, body={"invite": {"id": "x"}})
    replay = await backend.idempotency.claim("u:route:ws:k", now=now)
    assert replay is not None and replay.status == "done"
    assert replay.response_status == 201 and replay.response_body == {"invite": {"id": "x"}}
    # Stale records are replaced; released claims can be taken again.
    assert await backend.idempotency.claim("u:route:ws:k", now=now + timedelta(hours=25)) is None
    assert await backend.idempotency.claim("other", now=now) is None
    await backend.idempotency.release("other")
    assert await backend.idempotency.claim("other", now=now) is None
    assert await backend.idempotency.sweep(now + timedelta(days=3)) == 2
