"""Export and import between backends, in process (``localcore.transfer``) on real memory, SQLite and
Postgres backends: every pair of kinds, the SQLite -> Postgres -> memory -> SQLite round trip with every
table compared, a non-empty target, ``replace``, and truncated, tampered and foreign files (each refused
with its line number, the target left exactly as it was). The command line is in test_transfer_cli.py.
"""

from __future__ import annotations

import io
import json
import sqlite3
import uuid
from collections.abc import AsyncIterator, Awaitable, Callable
from pathlib import Path

import pytest

from backends import open_backend
from backends.sql.snapshot import NOT_EXPORTED
from backends.sqlite import SqliteBackend
from localcore.clock import ManualClock
from localcore.contract.backend import Backend
from localcore.contract.snapshot import SnapshotSource
from localcore.metering import LEDGER_VOCABULARY
from localcore.testing.plugin import PostgresServer
from localcore.testing.snapshot_support import populate, rebuild_file, tables_of
from localcore.transfer import TargetNotEmpty, TransferError, export_file, export_to, import_file, import_from

KINDS = ("memory", "sqlite", "postgres")
Make = Callable[[str], Awaitable[Backend]]


@pytest.fixture
async def fresh(tmp_path: Path, request: pytest.FixtureRequest, clock: ManualClock) -> AsyncIterator[Make]:
    """Opens a new, empty backend of a kind; Postgres: a database on the suite's cluster."""
    opened: list[Backend] = []
    databases: list[str] = []

    async def make(kind: str) -> Backend:
        if kind == "memory":
            url = "memory://"
        elif kind == "sqlite":
            url = f"sqlite:///{tmp_path / f'{uuid.uuid4().hex[:8]}.db'}"
        else:
            server: PostgresServer = request.getfixturevalue("postgres_server")
            url = await server.create_database()
            databases.append(url)
        backend = await open_backend(url, clock=clock, ledger_vocabulary=LEDGER_VOCABULARY)
        opened.append(backend)
        return backend

    yield make
    for backend in opened:
        await backend.close()
    if databases:
        server = request.getfixturevalue("postgres_server")
        for url in databases:
            await server.drop_database(url)


async def exported(backend: Backend) -> bytes:
    assert isinstance(backend, SnapshotSource)
    out = io.BytesIO()
    await export_to(backend, out, backend=backend.kind)
    return out.getvalue()


def raw_sqlite_rows(backend: Backend) -> dict[str, list[tuple[object, ...]]]:
    """Every table of a SQLite backend as stored (sqlite3 values), JSON objects in text parsed."""
    def value(v: object) -> object:
        if isinstance(v, str) and v.startswith(("{", "[")):
            return ("json", json.loads(v))
        return v

    assert isinstance(backend, SqliteBackend)
    conn = sqlite3.connect(backend.db.path)
    try:
        names = [r[0] for r in conn.execute("SELECT name FROM sqlite_master WHERE type = 'table'")]
        return {name: sorted((tuple(value(v) for v in row) for row in conn.execute(f'SELECT * FROM "{name}"')),
                             key=repr) for name in names if name not in NOT_EXPORTED}
    finally:
        conn.close()


async def empty(backend: Backend) -> bool:
    return all(not rows for rows in (await tables_of(backend)).values())


@pytest.mark.parametrize("target", KINDS)
@pytest.mark.parametrize("source", KINDS)
async def test_every_table_moves_from_each_kind_to_each_kind(source: str, target: str, fresh: Make,
                                                             clock: ManualClock, tmp_path: Path) -> None:
    origin = await fresh(source)
    ids = await populate(origin, clock)
    assert isinstance(origin, SnapshotSource)
    written = await export_file(origin, tmp_path / "export.jsonl", backend=origin.kind)
    assert written.path is not None and written.path.stat().st_mode & 0o777 == 0o600
    destination = await fresh(target)
    result = await import_file(destination, tmp_path / "export.jsonl")
    assert result.counts == written.counts and result.rows > 20
    assert result.header.backend == source and result.balances_checked == 2  # Ann, and Bob's expiring grant
    assert await tables_of(destination) == await tables_of(origin)
    assert await destination.metering.get_balance(ids["ann"]) == await origin.metering.get_balance(ids["ann"])
    # The audit log reads back through the target's own store (memory: the object the backend serves).
    events = await destination.audit.list_for_user(ids["ann"], limit=50)
    assert events == await origin.audit.list_for_user(ids["ann"], limit=50)
    assert {e.action for e in events} == {"auth.sign_up", "member.add", "credits.grant"}


async def test_sqlite_to_postgres_to_memory_to_sqlite_loses_nothing(fresh: Make, clock: ManualClock) -> None:
    first = await fresh("sqlite")
    ids = await populate(first, clock)
    original = await tables_of(first)
    hop = first
    for kind in ("postgres", "memory", "sqlite"):
        data = await exported(hop)
        nxt = await fresh(kind)
        await import_from(nxt, io.BytesIO(data))
        assert await tables_of(nxt) == original, f"{hop.kind} -> {kind}"
        hop = nxt
    assert hop.kind == "sqlite" and hop is not first
    assert sorted(original) == sorted(await tables_of(hop))
    assert all(original[name] for name in original)  # every table had rows to compare
    # The stored SQLite rows are identical too, byte for byte, but for JSON text that jsonb re-ordered.
    assert raw_sqlite_rows(first) == raw_sqlite_rows(hop)
    for backend in (first, hop):
        user = await backend.users.get_user(ids["ann"])
        assert user is not None and user.name == "Ann Ä"
    assert await hop.metering.get_balance(ids["ann"]) == await first.metering.get_balance(ids["ann"])


@pytest.mark.parametrize("kind", KINDS)
async def test_a_non_empty_target_is_refused_and_replace_replaces_everything(kind: str, fresh: Make,
                                                                              clock: ManualClock) -> None:
    source = await fresh("sqlite")
    await populate(source, clock)
    data = await exported(source)
    target = await fresh(kind)
    await target.users.create_user(email="already@example.com")
    before = await tables_of(target)
    with pytest.raises(TargetNotEmpty, match=r"not empty.*--replace"):
        await import_from(target, io.BytesIO(data))
    assert await tables_of(target) == before
    result = await import_from(target, io.BytesIO(data), replace=True)
    assert result.replaced
    assert await target.users.get_user_by_email("already@example.com") is None
    assert await tables_of(target) == await tables_of(source)


def _lines(data: bytes) -> list[bytes]:
    return data.splitlines(keepends=True)


def _line_of(lines: list[bytes], table: str, containing: bytes = b"") -> int:
    return next(i for i, line in enumerate(lines) if json.loads(line).get("t") == table and containing in line)


def _bad_files(data: bytes) -> list[tuple[str, bytes, str]]:
    """(what, file, message pattern): each must be refused with that message."""
    lines = _lines(data)
    user = _line_of(lines, "users", b"ann@example.com")
    users = [i + 1 for i, line in enumerate(lines) if line.startswith(b'{"t":"users"')]
    assert users[0] <= user + 1 <= users[-1]
    tampered = lines.copy()
    tampered[user] = tampered[user].replace(b"ann@example.com", b"eve@example.com")
    wrong_type = lines[:-1]
    wrong_type[user] = wrong_type[user].replace(b'"email_verified":', b'"email_verified":"yes","x":')
    bad_value = lines[:-1]
    row = json.loads(bad_value[user])
    row["r"]["created_at"] = "last tuesday"
    bad_value[user] = json.dumps(row).encode() + b"\n"
    balance = _line_of(lines, "boring_credit_balances")
    forged = lines[:-1]
    ledger = json.loads(forged[balance])
    ledger["r"]["used_micros"] += 1
    forged[balance] = json.dumps(ledger).encode() + b"\n"
    header = json.loads(lines[0])
    newer = lines[:-1]
    newer[0] = json.dumps({**header, "schemaVersion": header["schemaVersion"] + 1}).encode() + b"\n"
    version = lines.copy()
    version[0] = json.dumps({**header, "version": 99}).encode() + b"\n"
    unknown_table = lines[:-1]
    unknown_table.insert(2, b'{"t":"nope","r":{}}\n')
    total = len(lines)
    return [
        ("cut in the middle of a line", data[:-10], f"line {total}: .*truncated"),
        ("cut at a line end", b"".join(lines[:-3]), f"line {total - 2}: .*before its trailer"),
        ("a changed row", b"".join(tampered), f"line {users[0]}: the rows of users \\(lines {users[0]}-{users[-1]}\\)"),
        ("a changed count", b"".join(lines[:-1]) + lines[-1].replace(b'"users":2', b'"users":3'),
         f"line {total}: .*row counts"),
        ("a column the header lacks", rebuild_file(wrong_type), f"line {user + 1}: .*columns the header"),
        ("a value of the wrong form", rebuild_file(bad_value), f"line {user + 1}: users.created_at: not an ISO"),
        ("a balance that is not its ledger", rebuild_file(forged), f"line {balance + 1}: ledger identity"),
        ("a newer schema", rebuild_file(newer), "line 1: the file's schema version .* is newer"),
        ("an unknown format version", b"".join(version), "line 1: export format version 99"),
        ("not an export", b"id,email\n1,a@b\n", "line 1: not a localcore export"),
        ("an empty file", b"", "line 1: the file is empty"),
        ("a table the header does not list", rebuild_file(unknown_table), "line 3: table 'nope' is not in the header"),
    ]


@pytest.mark.parametrize("kind", KINDS)
async def test_a_broken_file_is_refused_with_its_line_and_changes_nothing(kind: str, fresh: Make,
                                                                          clock: ManualClock) -> None:
    source = await fresh("sqlite")
    await populate(source, clock)
    data = await exported(source)
    target = await fresh(kind)
    for what, broken, message in _bad_files(data):
        with pytest.raises(TransferError, match=message):
            await import_from(target, io.BytesIO(broken))
            pytest.fail(f"{what}: imported")
        assert await empty(target), what
    # With --replace, a broken file leaves the existing rows in place (one transaction).
    await import_from(target, io.BytesIO(data))
    before = await tables_of(target)
    for what, broken, message in _bad_files(data):
        with pytest.raises(TransferError, match=message):
            await import_from(target, io.BytesIO(broken), replace=True)
        assert await tables_of(target) == before, what


async def test_an_export_that_fails_leaves_no_file(fresh: Make, clock: ManualClock, tmp_path: Path) -> None:
    source = await fresh("sqlite")
    await populate(source, clock)
    assert isinstance(source, SnapshotSource)
    (tmp_path / "taken.jsonl").write_text("mine")
    with pytest.raises(TransferError, match="exists"):
        await export_file(source, tmp_path / "taken.jsonl", backend="sqlite")
    assert (tmp_path / "taken.jsonl").read_text() == "mine"

    def explode(rows: int) -> None:
        raise RuntimeError("disk full")

    with pytest.raises(RuntimeError, match="disk full"):
        await export_file(source, tmp_path / "new.jsonl", backend="sqlite", progress=explode)
    assert sorted(p.name for p in tmp_path.iterdir() if "jsonl" in p.name) == ["taken.jsonl"]


NEW_TABLE = {
    "sqlite": "CREATE TABLE audit_like (id INTEGER PRIMARY KEY AUTOINCREMENT, user_id text NOT NULL REFERENCES "
              "users(id), details TEXT NOT NULL DEFAULT '{}', created_at INTEGER NOT NULL)",
    "postgres": "CREATE TABLE audit_like (id bigserial PRIMARY KEY, user_id text NOT NULL REFERENCES users(id), "
                "details jsonb NOT NULL DEFAULT '{}', created_at timestamptz NOT NULL)",
}


async def test_a_table_a_migration_adds_moves_with_no_code_change(fresh: Make, clock: ManualClock) -> None:
    """SQL backends find tables in their catalogue: a new table (here with a serial key, a foreign key and
    JSON) is exported, loaded after its parent, and its Postgres sequence moves past the imported ids.
    Memory has no such table registered, and says so instead of dropping it."""
    source, target = await fresh("sqlite"), await fresh("postgres")
    ids = await populate(source, clock)
    for backend in (source, target):
        await backend.db.execute(NEW_TABLE[backend.kind])  # type: ignore[attr-defined]
    await source.db.execute(  # type: ignore[attr-defined]
        "INSERT INTO audit_like (id, user_id, details, created_at) VALUES (41, $1, $2, $3)",
        ids["ann"], {"action": "auth.sign_in"}, clock())
    data = await exported(source)
    assert b'"t":"audit_like"' in data
    await import_from(target, io.BytesIO(data))
    moved, original = await tables_of(target), await tables_of(source)
    # audit_like is in no canonical type list: SQLite holds its JSON as text, Postgres as jsonb.
    assert [dict(r) for r in moved.pop("audit_like")] == [
        {**dict(r), "details": json.loads(dict(r)["details"])} for r in original.pop("audit_like")]
    assert moved == original
    next_id = await target.db.fetchval(  # type: ignore[attr-defined]
        "INSERT INTO audit_like (user_id, created_at) VALUES ($1, $2) RETURNING id", ids["ann"], clock())
    assert next_id == 42
    with pytest.raises(TransferError, match="line 1: the target has no table audit_like"):
        await import_from(await fresh("memory"), io.BytesIO(data))
