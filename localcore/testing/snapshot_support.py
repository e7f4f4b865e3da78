"""Helpers for the snapshot contract tests and the transfer tests: a backend with a row in every table, and
a table-by-table comparison of two backends that ignores only how each stores a type.

``populate`` writes through the stores (so every value is one a real server writes; ``audit_events`` gets
its rows from the stores' ``audit=`` keyword, as the services write them), then adds rows to the tables no
store writes (``telemetry_events``, ``workspace_runtime_resources``) through the backend's own
snapshot sink. ``tables_of`` reads a backend through its snapshot and normalises every value to the
precise type the memory backend declares (integer 0/1 -> bool, JSON text -> its value, epoch microseconds
-> datetime), so an SQLite table and a Postgres table with the same content compare equal, and nothing
else does.
"""

from __future__ import annotations

import io
import json
from datetime import timedelta
from typing import Any

from backends.memory.snapshot import TABLES as MEMORY_TABLES
from localcore.clock import ManualClock
from localcore.contract.audit import AuditRecord
from localcore.contract.backend import Backend
from localcore.contract.snapshot import ColumnType, SnapshotSource, TableSpec, converter
from localcore.contract.tokens import hash_token

APP = "snapshot-app"
PASSWORD_HASH = "$argon2id$v=19$m=65536,t=3,p=4$c2FsdHNhbHQ$aGFzaGhhc2hoYXNoaGFzaA"
CANONICAL: dict[str, dict[str, ColumnType]] = {t.spec.name: t.spec.types for t in MEMORY_TABLES}
BIG = 2**53 - 1  # the largest total the ledger accepts: JSON must carry it exactly


async def populate(backend: Backend, clock: ManualClock) -> dict[str, str]:
    """At least one row in every table; returns the ids the tests look up."""
    now = clock()
    sign_up = AuditRecord("auth.sign_up", ip="127.0.0.1", user_agent="pytest Ä", request_id="req-1",
                          details={"method": "password", "nested": {"n": 2**60 + 1, "l": [None, 1.5]}})
    ann = await backend.users.create_user(email="ann@example.com", name="Ann Ä", password_hash=PASSWORD_HASH,
                                          email_verified=True, audit=sign_up)
    bob = await backend.users.create_user(email="bob@example.com", name="Bob", image="https://x.test/b.png")
    await backend.users.link_account(user_id=bob.id, provider_id="google", account_id="google-123")
    await backend.sessions.create_session(token_hash=hash_token("session-1"), user_id=ann.id,
                                          expires_at=now + timedelta(days=1), ip_address="127.0.0.1",
                                          user_agent="pytest", remember=False)
    await backend.tokens.put_token(kind="verify", token_hash=hash_token("verify-1"),
                                   data={"userId": ann.id, "email": ann.email, "z": {"b": 1, "a": [1, 2]}},
                                   expires_at=now + timedelta(hours=1))
    await backend.users.put_user_settings(ann.id, APP, display_name="Ann", settings={"theme": "dark", "a": {"y": 2}})
    clock.advance(seconds=1.000001)
    ws = await backend.workspaces.create_workspace(user_id=ann.id, name="Main", app_id=APP, is_default=True)
    gone = await backend.workspaces.create_workspace(user_id=ann.id, name="Old", app_id=APP)
    await backend.workspaces.delete_workspace(gone.id)
    await backend.workspaces.add_member(ws.id, bob.id, "editor",
                                        audit=AuditRecord("member.add", actor_id=ann.id, workspace_id=ws.id,
                                                          target_type="user", target_id=bob.id))
    await backend.workspaces.put_workspace_settings(ws.id, {"API_KEY": (bytes(range(256)), "key-1")})
    invite = await backend.workspaces.create_invite(ws.id, email="cy@example.com", role="viewer", invited_by=ann.id)
    await backend.workspaces.increment_invite_failed_attempts(invite.invite.id)
    await backend.workspaces.put_workspace_runtime(ws.id, {"state": "ready", "sprite_url": "https://s.test",
                                                           "sandbox_created_at": now})
    await backend.idempotency.claim("idem-1", now=now)
    await backend.idempotency.complete("idem-1", status=201, body={"ok": True, "n": 2**60 + 1, "list": [None, 1.5]})
    await backend.rate_limits.hit("sign-in:ann", window_seconds=60, now=now)
    metering = backend.metering
    await metering.grant_once(ann.id, "signup", 2_000_000, audit=AuditRecord("credits.grant"))  # the system's
    await metering.grant_once(ann.id, "promo", 500_000, expires_at=now + timedelta(days=30))
    await metering.grant_once(bob.id, "trial", 700_000, expires_at=now + timedelta(days=3))  # no balance row
    await metering.grant_purchase_once("order-1", ann.id, BIG - 10_000_000, source="stripe", test_mode=True,
                                       currency="EUR")
    await metering.revoke_purchase("order-ghost", allow_tombstone=True)
    await metering.record_usage("usage-1", ann.id, 12_345, input_tokens=2**40, provider="acme", model="m-1",
                                metadata={"reservationId": "r-x", "note": "é"})
    await metering.reserve(ann.id, "run-1", 1_000_000, 3600)
    await _add_plain_rows(backend, ws.id)
    return {"ann": ann.id, "bob": bob.id, "workspace": ws.id}


async def _add_plain_rows(backend: Backend, workspace_id: str) -> None:
    """Rows for the tables no store writes: exported, extended and imported back with ``replace``."""
    from localcore.transfer import export_to, import_from

    assert isinstance(backend, SnapshotSource)
    out = io.BytesIO()
    await export_to(backend, out, backend=backend.kind)
    lines = out.getvalue().splitlines(keepends=True)
    header = json.loads(lines[0])
    stamp = "2026-01-01T12:00:00.000001+00:00"
    extra = [
        {"t": "telemetry_events", "r": {"id": "ev-1", "app_id": APP, "event_name": "opened",
                                        "distinct_id": "anonymous", "properties": {"k": [1, "two"]},
                                        "created_at": stamp}},
        {"t": "workspace_runtime_resources", "r": {
            "id": "res-1", "workspace_id": workspace_id, "kind": "volume", "purpose": "main", "provider": "local",
            "handle_kind": "path", "stable_key": None, "provider_resource_id": "p-1", "parent_resource_id": None,
            "state": "ready", "persistence_mode": "persistent", "config": {"size": 10}, "provider_meta": {},
            "last_error": None, "last_error_code": None, "created_at": stamp, "updated_at": stamp,
            "last_seen_at": None, "last_used_at": None, "expires_at": None, "generation": 3}},
    ]
    rebuilt = [_header_with_precise_types(header, extra)]
    rebuilt += lines[1:-1]
    rebuilt += [json.dumps(e, separators=(",", ":")).encode() + b"\n" for e in extra]
    await import_from(backend, io.BytesIO(_with_trailer(rebuilt)), replace=True)


def _header_with_precise_types(header: dict[str, Any], extra: list[dict[str, Any]]) -> bytes:
    for table in header["tables"]:
        if table["name"] in {e["t"] for e in extra}:
            table["columns"] = [[name, kind] for name, kind in CANONICAL[table["name"]].items()]
    return json.dumps(header, separators=(",", ":")).encode() + b"\n"


def _with_trailer(lines: list[bytes]) -> bytes:
    """A file for ``lines`` (header + rows) with a correct trailer, as the export would write it."""
    import hashlib

    counts: dict[str, int] = {t["name"]: 0 for t in json.loads(lines[0])["tables"]}
    tables: dict[str, Any] = {}
    for line in lines[1:]:
        name = json.loads(line)["t"]
        counts[name] = counts.get(name, 0) + 1
        tables.setdefault(name, hashlib.sha256()).update(line)
    digest = hashlib.sha256(b"".join(lines)).hexdigest()
    trailer = {"end": {"rows": sum(counts.values()), "counts": counts,
                       "tables": {n: d.hexdigest() for n, d in tables.items()}, "sha256": digest}}
    return b"".join(lines) + json.dumps(trailer).encode() + b"\n"


def rebuild_file(lines: list[bytes]) -> bytes:
    """A file whose trailer is recomputed for ``lines`` (header + rows): a consistent forgery, for tests
    that need the rows themselves to be what is wrong."""
    return _with_trailer(lines)


def _normalise(spec: TableSpec, row: dict[str, Any]) -> tuple[tuple[str, Any], ...]:
    canonical = CANONICAL.get(spec.name, spec.types)
    out = []
    for name, kind in spec.columns:
        value = converter(kind, canonical.get(name, kind), where=f"{spec.name}.{name}")(row[name])
        out.append((name, value))
    return tuple(sorted(out))


async def tables_of(backend: Backend) -> dict[str, list[tuple[tuple[str, Any], ...]]]:
    """Every table's rows, normalised (see the module docstring), sorted."""
    assert isinstance(backend, SnapshotSource)
    tables: dict[str, list[tuple[tuple[str, Any], ...]]] = {}
    async with backend.snapshot() as snapshot:
        for spec in snapshot.tables:
            rows = [_normalise(spec, row) async for batch in snapshot.rows(spec.name) for row in batch]
            tables[spec.name] = sorted(rows, key=repr)
    return tables

