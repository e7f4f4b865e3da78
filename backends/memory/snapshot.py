"""Snapshots of the memory backend (``localcore.contract.snapshot``): its dicts as the SQL tables' rows.

Every table the SQL schema has is registered in :data:`TABLES`, with the same columns (memory declares the
precise types: ``boolean``, ``timestamp``, ``json``). Most are one line: ``records(...)`` maps a dict of
frozen records whose fields are the table's columns, ``plain(...)`` keeps a table no memory store uses as
plain rows; the few tables whose records differ from their rows have their own three functions.

- **Export**: ``snapshot()`` takes a shallow copy of every dict under the state lock, in one synchronous
  step (no ``await``, so no writer can run in between, the ledger's included, whose commits are synchronous;
  records are immutable, so the copy is one moment) and converts rows batch by batch. The copy costs a
  pointer per row.
- **Import**: ``restore()`` holds the state lock, loads into a fresh state and swaps it in, in one
  synchronous step, when the block ends without error; the ledger's totals are rebuilt from its rows and
  must equal the imported balance rows. The audit log keeps its store object (the backend and the ledger
  hold it): only its events are replaced. The state lock object stays too, and its release at the end
  counts as a write, so the identity version moves (``backends.memory.state.WriteLock``).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator, Callable, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, fields
from typing import TYPE_CHECKING, Any

from backends.memory.metering import _State, _Tx
from localcore.contract.audit import AuditEvent
from localcore.contract.idempotency import IdempotencyRecord
from localcore.contract.ids import new_id
from localcore.contract.ledger import (
    CreditGrantRecord,
    CreditPurchaseRecord,
    UsageLedgerRecord,
    UsageReservationRecord,
)
from localcore.contract.ratelimits import RateLimitHit
from localcore.contract.rules_ledger import TOTAL_CAP
from localcore.contract.sessions import OneTimeToken, Session
from localcore.contract.snapshot import (
    BATCH_ROWS,
    ColumnType,
    Encoded,
    EncodedRow,
    SnapshotError,
    TableSpec,
    convert_rows,
    encode_value,
    row_converter,
)
from localcore.contract.users import Account, User, UserSettings
from localcore.contract.workspaces import Member, StoredSetting, Workspace, WorkspaceRuntime

if TYPE_CHECKING:
    from backends.memory import MemoryBackend
    from backends.memory.state import MemoryState

#: The SQL schema version (newest migration) these tables mirror: a claim about ``TABLES``, so it is bumped
#: by hand when a migration's table is registered below (not read from the SQL backends' migrations, which
#: would make it claim a table memory does not have). ``test_the_sql_schema_and_the_memory_tables_agree``
#: fails on SQLite and Postgres until both are done. Migration 0005 added no data table (SQLite's identity
#: version counter is not exported: ``backends.sql.snapshot.NOT_EXPORTED``), only the version moved.
SCHEMA_VERSION = 5

_SHORT: dict[str, ColumnType] = {"t": "text", "i": "integer", "b": "boolean", "ts": "timestamp", "j": "json",
                                 "by": "bytes"}


def spec(name: str, columns: str, key: str = "id") -> TableSpec:
    """``spec("users", "id:t email_verified:b created_at:ts")``: ``:t`` text, ``:i`` integer, ``:b`` boolean,
    ``:ts`` timestamp, ``:j`` json, ``:by`` bytes."""
    parsed = tuple((col, _SHORT[kind]) for col, kind in (part.split(":") for part in columns.split()))
    return TableSpec(name, parsed, tuple(key.split()))


class Staging:
    """The state an import builds; swapped in whole at the end."""

    def __init__(self, fresh: MemoryState) -> None:
        self.state = fresh
        self.ledger = _State()
        self.ledger_tx = _Tx(self.ledger)
        self.balances: dict[str, dict[str, Any]] = {}


Stored = dict[str, Any]  # column -> stored Python value


@dataclass(frozen=True)
class MemoryTable:
    spec: TableSpec
    take: Callable[[MemoryBackend], list[Any]]  # the synchronous copy
    to_row: Callable[[Any], Stored]
    load: Callable[[Staging, Stored], None]


def _columns_of(record: Any) -> Callable[[Any], Stored]:
    names = [f.name for f in fields(record)]
    return lambda item: {name: getattr(item, name) for name in names}


def records(table: TableSpec, attr: str, record: Any, key: Callable[[Any], Any]) -> MemoryTable:
    """A ``MemoryState`` dict of ``record`` (fields = columns), stored under ``key(record)``."""
    return MemoryTable(table, lambda b: list(getattr(b.state, attr).values()), _columns_of(record),
                       lambda st, row: getattr(st.state, attr).__setitem__(key(rec := record(**row)), rec))


def ledger_records(table: TableSpec, attr: str, record: Any, add: str) -> MemoryTable:
    """A dict of the ledger's state, loaded through its staged transaction (which builds the indexes)."""
    return MemoryTable(table, lambda b: list(getattr(b.metering._state, attr).values()), _columns_of(record),
                       lambda st, row: getattr(st.ledger_tx, add)(record(**row)))


def plain(table: TableSpec) -> MemoryTable:
    """A table no memory store uses, kept as its rows."""
    def load(st: Staging, row: Stored) -> None:
        st.state.plain_tables.setdefault(table.name, {})[tuple(row[k] for k in table.key)] = row
    return MemoryTable(table, lambda b: [dict(r) for r in b.state.plain_tables.get(table.name, {}).values()],
                       lambda row: row, load)


_NO_MEMORY_COLUMNS = ("access_token", "refresh_token", "id_token", "scope", "access_token_expires_at",
                      "refresh_token_expires_at")


def _account_row(a: Account) -> Stored:
    return {"id": a.id, "account_id": a.account_id, "provider_id": a.provider_id, "user_id": a.user_id,
            **dict.fromkeys(_NO_MEMORY_COLUMNS), "password": a.password_hash,
            "created_at": a.created_at, "updated_at": a.updated_at}


def _load_account(st: Staging, row: Stored) -> None:
    held = [c for c in _NO_MEMORY_COLUMNS if row.get(c) is not None]
    if held:  # lossless or refused: the memory backend has nowhere to keep these
        raise SnapshotError(f"accounts.{held[0]}: the memory backend does not keep provider tokens")
    st.state.accounts[row["id"]] = Account(
        id=row["id"], user_id=row["user_id"], provider_id=row["provider_id"], account_id=row["account_id"],
        password_hash=row["password"], created_at=row["created_at"], updated_at=row["updated_at"])


def _token_user(data: dict[str, Any]) -> str | None:
    user_id = data.get("userId")
    return user_id if isinstance(user_id, str) else None


def _take_tokens(b: MemoryBackend) -> list[Any]:
    return [(b.state.token_ids.get(key) or new_id(), key, token) for key, token in b.state.tokens.items()]


def _token_row(item: tuple[str, str, OneTimeToken]) -> Stored:
    token_id, key, token = item
    return {"id": token_id, "identifier": key, "value": json.dumps(token.data), "user_id": _token_user(token.data),
            "expires_at": token.expires_at, "created_at": token.created_at, "updated_at": token.created_at}


def _load_token(st: Staging, row: Stored) -> None:
    kind, _, token_hash = str(row["identifier"]).partition(":")
    data = json.loads(row["value"])
    if not isinstance(data, dict) or _token_user(data) != row["user_id"] or row["updated_at"] != row["created_at"]:
        raise SnapshotError(f"verification_tokens {row['id']}: not a token the memory backend can hold")
    st.state.tokens[row["identifier"]] = OneTimeToken(kind=kind, token_hash=token_hash, data=data,
                                                      expires_at=row["expires_at"], created_at=row["created_at"])
    st.state.token_ids[row["identifier"]] = row["id"]


def _take_user_settings(b: MemoryBackend) -> list[Any]:
    return [(k, v, b.state.user_settings_updated_at.get(k)) for k, v in b.state.user_settings.items()]


def _user_settings_row(item: tuple[tuple[str, str], UserSettings, Any]) -> Stored:
    (user_id, app_id), value, updated_at = item
    return {"user_id": user_id, "app_id": app_id, "display_name": value.display_name, "email": value.email,
            "settings": value.settings, "updated_at": updated_at}


def _load_user_settings(st: Staging, row: Stored) -> None:
    key = (row["user_id"], row["app_id"])
    st.state.user_settings[key] = UserSettings(row["display_name"], row["email"], row["settings"])
    st.state.user_settings_updated_at[key] = row["updated_at"]


def _take_accounts(b: MemoryBackend) -> list[Any]:
    return list(b.state.accounts.values())


def _take_invites(b: MemoryBackend) -> list[Any]:
    return [dict(i) for i in b.state.invites.values()]


def _load_invite(st: Staging, row: Stored) -> None:
    st.state.invites[row["id"]] = dict(row)


def _take_rate_limits(b: MemoryBackend) -> list[Any]:
    return [(k, v, b.state.rate_limit_windows.get(k)) for k, v in b.state.rate_limits.items()]


def _load_rate_limit(st: Staging, row: Stored) -> None:
    st.state.rate_limits[row["key"]] = RateLimitHit(count=row["count"], reset_at=row["reset_at"])
    st.state.rate_limit_windows[row["key"]] = row["window_start"]


def _take_audit_events(b: MemoryBackend) -> list[Any]:
    return b.state.audit.all_events()


def _load_audit_event(st: Staging, row: Stored) -> None:
    st.state.audit.insert_events([AuditEvent(**row)])


def _take_balances(b: MemoryBackend) -> list[Any]:
    s = b.metering._state
    return [{"user_id": u, "perpetual_granted_micros": min(s.perpetual.get(u, 0), TOTAL_CAP),
             "used_micros": min(s.used.get(u, 0), TOTAL_CAP), "updated_at": at}
            for u, at in s.totals_updated_at.items()]


def _load_balance(st: Staging, row: Stored) -> None:
    st.balances[row["user_id"]] = row


TABLES: tuple[MemoryTable, ...] = (
    records(spec("users", "id:t name:t email:t email_verified:b image:t created_at:ts updated_at:ts"),
            "users", User, lambda r: r.id),
    MemoryTable(spec("accounts", "id:t account_id:t provider_id:t user_id:t access_token:t refresh_token:t "
                     "id_token:t scope:t password:t access_token_expires_at:ts refresh_token_expires_at:ts "
                     "created_at:ts updated_at:ts"),
                _take_accounts, _account_row, _load_account),
    records(spec("sessions", "id:t token_hash:t user_id:t expires_at:ts ip_address:t user_agent:t "
                 "created_at:ts updated_at:ts remember:b"), "sessions", Session, lambda r: r.token_hash),
    MemoryTable(spec("verification_tokens", "id:t identifier:t value:t user_id:t expires_at:ts created_at:ts "
                     "updated_at:ts"), _take_tokens, _token_row, _load_token),
    MemoryTable(spec("user_settings", "user_id:t app_id:t display_name:t email:t settings:j updated_at:ts",
                     key="user_id app_id"), _take_user_settings, _user_settings_row, _load_user_settings),
    records(spec("workspaces", "id:t app_id:t name:t created_by:t created_at:ts deleted_at:ts is_default:b"),
            "workspaces", Workspace, lambda r: r.id),
    records(spec("workspace_members", "workspace_id:t user_id:t role:t created_at:ts", key="workspace_id user_id"),
            "members", Member, lambda r: (r.workspace_id, r.user_id)),
    records(spec("workspace_settings", "workspace_id:t key:t value:by key_id:t updated_at:ts",
                 key="workspace_id key"), "workspace_settings", StoredSetting, lambda r: (r.workspace_id, r.key)),
    MemoryTable(spec("workspace_invites", "id:t workspace_id:t email:t token_hash:t role:t expires_at:ts "
                     "accepted_at:ts created_by:t created_at:ts failed_attempts:i locked_until:ts"),
                _take_invites, lambda row: row, _load_invite),
    records(spec("workspace_runtimes", "workspace_id:t sprite_url:t sprite_name:t state:t last_error:t "
                 "volume_path:t last_error_op:t sandbox_provider:t sandbox_id:t sandbox_status:t "
                 "sandbox_snapshot_id:t sandbox_created_at:ts sandbox_last_used_at:ts sandbox_last_seen_at:ts "
                 "sandbox_expires_at:ts updated_at:ts provisioning_step:t step_started_at:ts", key="workspace_id"),
            "runtimes", WorkspaceRuntime, lambda r: r.workspace_id),
    plain(spec("workspace_runtime_resources", "id:t workspace_id:t kind:t purpose:t provider:t handle_kind:t "
               "stable_key:t provider_resource_id:t parent_resource_id:t state:t persistence_mode:t config:j "
               "provider_meta:j last_error:t last_error_code:t created_at:ts updated_at:ts last_seen_at:ts "
               "last_used_at:ts expires_at:ts generation:i")),
    records(spec("idempotency_keys", "key:t status:t response_status:i response_body:j created_at:ts", key="key"),
            "idempotency", IdempotencyRecord, lambda r: r.key),
    MemoryTable(spec("rate_limits", "key:t window_start:ts reset_at:ts count:i", key="key"), _take_rate_limits,
                lambda item: {"key": item[0], "window_start": item[2], "reset_at": item[1].reset_at,
                              "count": item[1].count}, _load_rate_limit),
    plain(spec("telemetry_events", "id:t app_id:t event_name:t distinct_id:t properties:j created_at:ts")),
    ledger_records(spec("boring_credit_grants", "id:t user_id:t amount_micros:i reason:t expires_at:ts "
                        "created_at:ts"), "grants", CreditGrantRecord, "add_grant"),
    ledger_records(spec("boring_credit_purchases", "order_id:t user_id:t amount_micros:i status:t source:t "
                        "created_at:ts refunded_at:ts refunded_micros:i pending_refund_ppm:i store_id:t "
                        "test_mode:b currency:t variant_id:t", key="order_id"),
                   "purchases", CreditPurchaseRecord, "put_purchase"),
    ledger_records(spec("boring_usage_reservations", "id:t user_id:t workspace_id:t session_id:t run_id:t source:t "
                        "amount_micros:i status:t charge_on_expire:b created_at:ts expires_at:ts"),
                   "reservations", UsageReservationRecord, "put_reservation"),
    ledger_records(spec("boring_usage_ledger", "id:t user_id:t workspace_id:t session_id:t run_id:t message_id:t "
                        "source:t provider:t model:t input_tokens:i output_tokens:i cache_read_tokens:i "
                        "cache_write_tokens:i provider_cost_micros:i billed_cost_micros:i stop_reason:t "
                        "metadata:j reservation_id:t created_at:ts"), "ledger", UsageLedgerRecord, "add_usage"),
    MemoryTable(spec("boring_credit_balances", "user_id:t perpetual_granted_micros:i used_micros:i updated_at:ts",
                     key="user_id"), _take_balances, lambda row: row, _load_balance),
    MemoryTable(spec("audit_events", "id:t action:t actor_id:t workspace_id:t target_type:t target_id:t "
                     "details:j ip:t user_agent:t request_id:t created_at:ts"),
                _take_audit_events, _columns_of(AuditEvent), _load_audit_event),
)
_BY_NAME = {t.spec.name: t for t in TABLES}


class MemorySnapshot:
    schema_version = SCHEMA_VERSION
    tables: Sequence[TableSpec] = tuple(t.spec for t in TABLES)

    def __init__(self, backend: MemoryBackend) -> None:
        # One synchronous step: the moment of the snapshot.
        self._copies = {t.spec.name: t.take(backend) for t in TABLES}

    async def rows(self, table: str) -> AsyncIterator[list[EncodedRow]]:
        entry = _BY_NAME[table]
        columns = entry.spec.columns
        items = self._copies[table]
        for start in range(0, len(items), BATCH_ROWS):
            batch = [entry.to_row(item) for item in items[start:start + BATCH_ROWS]]
            yield [{name: encode_value(kind, row[name]) for name, kind in columns} for row in batch]
            await asyncio.sleep(0)


@asynccontextmanager
async def memory_snapshot(backend: MemoryBackend) -> AsyncIterator[MemorySnapshot]:
    async with backend.state.lock:  # the core stores' writers wait; the ledger commits synchronously anyway
        snapshot = MemorySnapshot(backend)
    yield snapshot


class MemorySnapshotWriter:
    schema_version = SCHEMA_VERSION
    tables: Sequence[TableSpec] = tuple(t.spec for t in TABLES)

    def __init__(self, backend: MemoryBackend, staging: Staging) -> None:
        self._backend = backend
        self.staging = staging
        self.cleared = False

    def _live_counts(self) -> dict[str, int]:
        return {t.spec.name: len(t.take(self._backend)) for t in TABLES}

    async def is_empty(self) -> bool:
        return not any(self._live_counts().values())

    async def clear(self) -> None:
        self.cleared = True

    async def insert(self, table: str, columns: Sequence[tuple[str, ColumnType]],
                     rows: Sequence[Sequence[Encoded]]) -> None:
        entry = _BY_NAME.get(table)
        if entry is None:
            raise SnapshotError(f"the memory backend has no table {table}")
        convert = row_converter(entry.spec, columns)
        names = [name for name, _ in columns]
        missing = [name for name, _ in entry.spec.columns if name not in names]
        if missing:
            raise SnapshotError(f"{table}: the snapshot lacks column {', '.join(missing)}")
        for index, values in enumerate(convert_rows(convert, rows)):
            try:
                entry.load(self.staging, dict(zip(names, values, strict=True)))
            except SnapshotError as exc:
                exc.row = index
                raise

    def _staged_counts(self) -> dict[str, int]:
        staged = _staged_backend(self.staging)
        return {t.spec.name: len(t.take(staged)) for t in TABLES}

    async def counts(self) -> dict[str, int]:
        self.finish_ledger()
        staged = self._staged_counts()
        live = {} if self.cleared else self._live_counts()
        return {name: staged[name] + live.get(name, 0) for name in staged}

    def finish_ledger(self) -> None:
        """Index the staged ledger rows and check them against the imported balance rows."""
        st = self.staging
        st.ledger_tx.commit()
        st.ledger_tx = _Tx(st.ledger)
        users = set(st.ledger.perpetual) | set(st.ledger.used) | set(st.ledger.totals_updated_at)
        for user_id in users | set(st.balances):
            row = st.balances.get(user_id)
            expected = (min(st.ledger.perpetual.get(user_id, 0), TOTAL_CAP), min(st.ledger.used.get(user_id, 0),
                                                                                  TOTAL_CAP))
            if row is None or (row["perpetual_granted_micros"], row["used_micros"]) != expected:
                raise SnapshotError(f"boring_credit_balances {user_id}: the balance row does not match the "
                                    "user's grants and ledger rows")
            st.ledger.totals_updated_at[user_id] = row["updated_at"]


class _StagedMetering:
    def __init__(self, ledger: _State) -> None:
        self._state = ledger


class _StagedBackend:
    """What ``MemoryTable.take`` reads of a backend (``.state``, ``.metering._state``), over a staging."""

    def __init__(self, staging: Staging) -> None:
        self.state = staging.state
        self.metering = _StagedMetering(staging.ledger)


def _staged_backend(staging: Staging) -> Any:
    return _StagedBackend(staging)


@asynccontextmanager
async def memory_restore(backend: MemoryBackend, fresh: MemoryState) -> AsyncIterator[MemorySnapshotWriter]:
    async with backend.state.lock:
        writer = MemorySnapshotWriter(backend, Staging(fresh))
        yield writer
        if not writer.cleared and not await writer.is_empty():
            raise SnapshotError("the memory backend is not empty")
        writer.finish_ledger()
        # The swap: synchronous, so no reader sees half of it.
        staged = writer.staging.state
        for name, value in vars(staged).items():
            if name not in {"lock", "audit"}:
                setattr(backend.state, name, value)
        backend.state.audit.replace_events(staged.audit.all_events())
        backend.metering._state = writer.staging.ledger

