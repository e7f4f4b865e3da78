"""The credits ledger over ``backends.sql.db.Database``: one implementation for SQLite and Postgres.

Serialisation: every mutating operation is one ``db.transaction()``. Postgres runs it under READ
COMMITTED and takes transaction-scoped advisory locks through ``db.lock`` — the order lock
(``ledger_locks.order_lock``) before the user lock (``users.user_lock_key``), never the reverse — so
each statement after the lock sees everything the previous holder committed. SQLite's transaction is
``BEGIN IMMEDIATE`` (one writer across every process on the file) and ``db.lock`` is a no-op.

Balances never sum the ledger: ``boring_credit_balances`` holds, per user, the sum of perpetual grants and
the sum of all debits, updated in the same transaction as the grant or debit row. A balance adds the user's
*unexpired expiring* grants and *live* holds, both read through partial indexes (small sets), in one
statement so the four figures come from one snapshot.

The rules themselves (validation, refund arithmetic, replay checks, the ledger view) live in
``localcore.contract.rules_ledger`` and ``rules_ledger_writes`` and are shared with the memory backend;
the names the ledger gives its own rows come from the store's ``LedgerVocabulary``.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Mapping
from contextlib import asynccontextmanager
from datetime import datetime
from typing import Any

from backends.sql.audit import insert_audit
from backends.sql.db import Database, Executor, json_column
from localcore.contract import rules_ledger as rules
from localcore.contract import rules_ledger_writes as writes
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation
from localcore.contract.ledger import (
    CreditGrantRecord,
    CreditPurchaseRecord,
    FinishStatus,
    InsufficientCreditError,
    LedgerVocabulary,
    MeteringBalance,
    MeteringRangeError,
    UsageLedgerRecord,
    UsageReservationRecord,
)
from localcore.contract.ledger_store import MeteringStoreBase
from localcore.contract.users import user_lock_key

Row = Mapping[str, Any]

_GRANT_COLS = "id, user_id, amount_micros, reason, expires_at, created_at"
_PURCHASE_COLS = (
    "order_id, user_id, amount_micros, status, source, created_at, refunded_at, refunded_micros, "
    "pending_refund_ppm, store_id, test_mode, currency, variant_id"
)
_RESERVATION_COLS = (
    "id, user_id, workspace_id, session_id, run_id, source, amount_micros, status, charge_on_expire, "
    "created_at, expires_at"
)
_LEDGER_COLS = (
    "id, user_id, workspace_id, session_id, run_id, message_id, source, provider, model, input_tokens, "
    "output_tokens, cache_read_tokens, cache_write_tokens, provider_cost_micros, billed_cost_micros, "
    "stop_reason, metadata, reservation_id, created_at"
)
_CAP = rules.TOTAL_CAP

_BUMP_TOTALS = f"""
INSERT INTO boring_credit_balances (user_id, perpetual_granted_micros, used_micros, updated_at)
VALUES ($1, $2, $3, $4)
ON CONFLICT (user_id) DO UPDATE SET
  perpetual_granted_micros = CASE
    WHEN boring_credit_balances.perpetual_granted_micros + excluded.perpetual_granted_micros > {_CAP}
    THEN {_CAP}
    ELSE boring_credit_balances.perpetual_granted_micros + excluded.perpetual_granted_micros END,
  used_micros = CASE
    WHEN boring_credit_balances.used_micros + excluded.used_micros > {_CAP} THEN {_CAP}
    ELSE boring_credit_balances.used_micros + excluded.used_micros END,
  updated_at = excluded.updated_at
"""

# One statement, so the four figures share one snapshot. Cost: two primary-key lookups plus two range
# scans over partial/covering indexes of the user's *unexpired* expiring grants and *live* holds.
_BALANCE = """
SELECT
  (SELECT perpetual_granted_micros FROM boring_credit_balances WHERE user_id = $1) AS perpetual,
  (SELECT used_micros FROM boring_credit_balances WHERE user_id = $1) AS used,
  (SELECT SUM(amount_micros) FROM boring_credit_grants
    WHERE user_id = $1 AND expires_at IS NOT NULL AND expires_at > $2) AS expiring,
  (SELECT SUM(amount_micros) FROM boring_usage_reservations
    WHERE user_id = $1 AND status = 'active' AND expires_at > $2) AS reserved
"""


def _int(value: Any) -> int:
    """SUM(bigint) is numeric (a Decimal) on Postgres; NULL (no rows) is 0."""
    return 0 if value is None else int(value)


def _opt_bool(value: Any) -> bool | None:
    return None if value is None else bool(value)


def _grant(row: Row) -> CreditGrantRecord:
    return CreditGrantRecord(id=row["id"], user_id=row["user_id"], amount_micros=int(row["amount_micros"]),
                             reason=row["reason"], expires_at=row["expires_at"], created_at=row["created_at"])


def _purchase(row: Row) -> CreditPurchaseRecord:
    def opt_int(name: str) -> int | None:
        return None if row[name] is None else int(row[name])

    return CreditPurchaseRecord(
        order_id=row["order_id"], user_id=row["user_id"], amount_micros=opt_int("amount_micros"),
        status=row["status"], source=row["source"], created_at=row["created_at"],
        refunded_at=row["refunded_at"], refunded_micros=opt_int("refunded_micros"),
        pending_refund_ppm=opt_int("pending_refund_ppm"), store_id=row["store_id"],
        test_mode=_opt_bool(row["test_mode"]), currency=row["currency"], variant_id=row["variant_id"],
    )


def _reservation(row: Row) -> UsageReservationRecord:
    return UsageReservationRecord(
        id=row["id"], user_id=row["user_id"], run_id=row["run_id"], amount_micros=int(row["amount_micros"]),
        status=row["status"], charge_on_expire=bool(row["charge_on_expire"]), created_at=row["created_at"],
        expires_at=row["expires_at"], workspace_id=row["workspace_id"], session_id=row["session_id"],
        source=row["source"],
    )


def _usage(row: Row) -> UsageLedgerRecord:
    metadata = json_column(row["metadata"])
    return UsageLedgerRecord(
        id=row["id"], user_id=row["user_id"], billed_cost_micros=int(row["billed_cost_micros"]),
        created_at=row["created_at"], source=row["source"], workspace_id=row["workspace_id"],
        session_id=row["session_id"], run_id=row["run_id"], message_id=row["message_id"],
        provider=row["provider"], model=row["model"], input_tokens=int(row["input_tokens"]),
        output_tokens=int(row["output_tokens"]), cache_read_tokens=int(row["cache_read_tokens"]),
        cache_write_tokens=int(row["cache_write_tokens"]),
        provider_cost_micros=int(row["provider_cost_micros"]), stop_reason=row["stop_reason"],
        metadata=metadata if isinstance(metadata, dict) else {}, reservation_id=row["reservation_id"],
    )


def _usage_params(row: UsageLedgerRecord) -> tuple[Any, ...]:
    return (row.id, row.user_id, row.workspace_id, row.session_id, row.run_id, row.message_id, row.source,
            row.provider, row.model, row.input_tokens, row.output_tokens, row.cache_read_tokens,
            row.cache_write_tokens, row.provider_cost_micros, row.billed_cost_micros, row.stop_reason,
            row.metadata, row.reservation_id, row.created_at)


def _purchase_params(row: CreditPurchaseRecord) -> tuple[Any, ...]:
    return (row.order_id, row.user_id, row.amount_micros, row.status, row.source, row.created_at,
            row.refunded_at, row.refunded_micros, row.pending_refund_ppm, row.store_id, row.test_mode,
            row.currency, row.variant_id)


def _sum_overflow(exc: Exception) -> bool:
    """SQLite's SUM() raises on 64-bit overflow (Postgres sums bigint as numeric and cannot)."""
    return "integer overflow" in str(exc).lower()


class SqlMeteringStore(MeteringStoreBase[Executor]):
    """``MeteringStore`` + ``MeteringInspector`` over a ``Database`` (SQLite or Postgres)."""

    def __init__(self, db: Database, clock: Clock, vocabulary: LedgerVocabulary | None = None) -> None:
        super().__init__(clock, vocabulary)
        self.db = db
        # Binary (code point) order for ids in ORDER BY, as the memory backend sorts Python strings.
        self._binary = ' COLLATE "C"' if db.dialect == "postgres" else ""

    # ------------------------------------------------------------------ shared statements

    async def _bump_totals(self, tx: Executor, user_id: str, *, granted: int = 0, used: int = 0) -> None:
        await tx.execute(_BUMP_TOTALS, user_id, min(granted, _CAP), min(used, _CAP), self.clock())

    async def _insert_usage(self, tx: Executor, row: UsageLedgerRecord) -> bool:
        """Insert a ledger row unless its id exists; keep the user's used total in step."""
        placeholders = ", ".join(f"${i}" for i in range(1, 20))
        inserted = await tx.execute(
            f"INSERT INTO boring_usage_ledger ({_LEDGER_COLS}) VALUES ({placeholders}) "
            "ON CONFLICT (id) DO NOTHING",
            *_usage_params(row),
        )
        if inserted:
            await self._bump_totals(tx, row.user_id, used=row.billed_cost_micros)
        return bool(inserted)

    async def _fetch_usage(self, ex: Executor, usage_id: str) -> UsageLedgerRecord | None:
        row = await ex.fetchrow(f"SELECT {_LEDGER_COLS} FROM boring_usage_ledger WHERE id = $1", usage_id)
        return None if row is None else _usage(row)

    async def _post_verified_debit(self, tx: Executor, debit: writes.Debit) -> bool:
        """Insert the debit unless its id exists; an existing row must be this very debit."""
        if await self._insert_usage(tx, debit.row(self.clock())):
            return True
        writes.check_verified_debit(await self._fetch_usage(tx, debit.id), debit)
        return False

    async def _add_grant_once(self, tx: Executor, grant: CreditGrantRecord) -> bool:
        inserted = await tx.execute(
            f"INSERT INTO boring_credit_grants ({_GRANT_COLS}) VALUES ($1, $2, $3, $4, $5, $6) "
            "ON CONFLICT (user_id, reason) DO NOTHING",
            grant.id, grant.user_id, grant.amount_micros, grant.reason, grant.expires_at, grant.created_at,
        )
        if inserted and grant.expires_at is None:
            await self._bump_totals(tx, grant.user_id, granted=grant.amount_micros)
        return bool(inserted)

    async def _write_purchase(self, tx: Executor, row: CreditPurchaseRecord, *, insert: bool) -> None:
        if insert:
            await tx.execute(
                f"INSERT INTO boring_credit_purchases ({_PURCHASE_COLS}) "
                "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11, $12, $13)",
                *_purchase_params(row),
            )
            return
        await tx.execute(
            "UPDATE boring_credit_purchases SET user_id = $2, amount_micros = $3, status = $4, "
            "source = $5, created_at = $6, refunded_at = $7, refunded_micros = $8, pending_refund_ppm = $9, "
            "store_id = $10, test_mode = $11, currency = $12, variant_id = $13 WHERE order_id = $1",
            *_purchase_params(row),
        )

    async def _read_purchase(self, ex: Executor, order_id: str) -> CreditPurchaseRecord | None:
        row = await ex.fetchrow(
            f"SELECT {_PURCHASE_COLS} FROM boring_credit_purchases WHERE order_id = $1", order_id
        )
        return None if row is None else _purchase(row)

    async def _read_balance(self, ex: Executor, user_id: str, now: datetime) -> MeteringBalance:
        try:
            row = await ex.fetchrow(_BALANCE, user_id, now)
        except Exception as exc:
            if _sum_overflow(exc):
                raise MeteringRangeError("metering granted exceeds the safe integer range") from None
            raise
        assert row is not None
        parts = rules.BalanceParts(perpetual_granted=_int(row["perpetual"]),
                                   expiring_granted=_int(row["expiring"]), used=_int(row["used"]),
                                   reserved=_int(row["reserved"]))
        return rules.build_balance(user_id, parts)

    async def _billed_for_reservation(self, ex: Executor, user_id: str, reservation_id: str) -> int:
        return _int(await ex.fetchval(
            "SELECT SUM(billed_cost_micros) FROM boring_usage_ledger "
            "WHERE user_id = $1 AND reservation_id = $2",
            user_id, reservation_id,
        ))

    async def _expire_user(self, tx: Executor, user_id: str, now: datetime) -> int:
        """Under the caller's user lock: claim past-TTL holds atomically, top up the marked ones."""
        claimed = [_reservation(r) for r in await tx.fetch(
            "UPDATE boring_usage_reservations SET status = 'expired' "
            "WHERE user_id = $1 AND status = 'active' AND expires_at <= $2 "
            f"RETURNING {_RESERVATION_COLS}",
            user_id, now,
        )]
        claimed.sort(key=lambda r: (r.created_at, r.id))
        for row in claimed:
            if not row.charge_on_expire:
                continue
            billed = await self._billed_for_reservation(tx, user_id, row.id)
            debit = writes.expiry_top_up(row, billed, self.vocabulary)
            if debit is not None:
                await self._post_verified_debit(tx, debit)
        return len(claimed)

    # ------------------------------------------------------------------ MeteringStoreBase steps

    @asynccontextmanager
    async def _locked(self, *keys: str) -> AsyncIterator[Executor]:
        async with self.db.transaction() as tx:
            for key in keys:
                await self.db.lock(tx, key)
            yield tx

    async def _lock_user(self, tx: Executor, user_id: str) -> None:
        await self.db.lock(tx, user_lock_key(user_id))

    async def _write_audit(self, tx: Executor, record: AuditRecord) -> None:
        await insert_audit(tx, self.clock, record)

    # ------------------------------------------------------------------ MeteringStoreBase requests

    async def _record_usage(self, row: UsageLedgerRecord) -> bool:
        async with self._locked(user_lock_key(row.user_id)) as tx:
            if await self._insert_usage(tx, row):
                return True
            existing = await self._fetch_usage(tx, row.id)
            if existing is None or writes.usage_conflicts(existing, row):
                raise writes.usage_collision(row.id)
            return False

    async def _reserve(self, call: writes.ReserveCall, now: datetime) -> str:
        async with self._locked(user_lock_key(call.user_id)) as tx:
            await self._expire_user(tx, call.user_id, now)
            existing = await tx.fetchval(
                "SELECT id FROM boring_usage_reservations "
                "WHERE user_id = $1 AND run_id = $2 AND status = 'active'",
                call.user_id, call.run_id,
            )
            if existing is not None:
                return str(existing)
            balance = await self._read_balance(tx, call.user_id, now)
            if balance.available_micros < call.min_available:
                raise InsufficientCreditError(balance.available_micros, call.min_available)
            hold = call.hold(now)
            try:
                await tx.execute(
                    f"INSERT INTO boring_usage_reservations ({_RESERVATION_COLS}) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
                    hold.id, hold.user_id, hold.workspace_id, hold.session_id, hold.run_id, hold.source,
                    hold.amount_micros, hold.status, hold.charge_on_expire, hold.created_at, hold.expires_at,
                )
            except ConstraintViolation as exc:
                if exc.kind == "unique":
                    raise writes.run_conflict(call.run_id) from None
                raise
            return hold.id

    async def _finish_reservation(self, status: FinishStatus, matchable: tuple[str, ...],
                                  reservation_id: str | None, run_id: str | None, user_id: str | None) -> bool:
        in_list = ", ".join(f"'{s}'" for s in matchable)  # constants from finish_matchable
        async with self.db.transaction() as tx:
            owner = user_id
            if owner is None:
                owner = await tx.fetchval(
                    "SELECT user_id FROM boring_usage_reservations WHERE id = $1", reservation_id
                )
            if owner is not None:
                await self.db.lock(tx, user_lock_key(owner))
            target = reservation_id
            if target is None:
                ids = await tx.fetch(
                    "SELECT id FROM boring_usage_reservations "
                    f"WHERE run_id = $1 AND user_id = $2 AND status IN ({in_list})",
                    run_id, user_id,
                )
                if not ids:
                    return False
                if len(ids) > 1:
                    assert run_id is not None
                    raise writes.ambiguous_finish(run_id)
                target = str(ids[0]["id"])
            sql = f"UPDATE boring_usage_reservations SET status = $2 WHERE id = $1 AND status IN ({in_list})"
            params: list[Any] = [target, status]
            if user_id is not None:
                sql += " AND user_id = $3"
                params.append(user_id)
            return bool(await tx.execute(sql, *params))

    async def _expire_stale(self, now: datetime) -> int:
        users = await self.db.fetch(
            "SELECT DISTINCT user_id FROM boring_usage_reservations "
            "WHERE status = 'active' AND expires_at <= $1",
            now,
        )
        total = 0
        for user_id in sorted(str(r["user_id"]) for r in users):
            async with self._locked(user_lock_key(user_id)) as tx:  # one per user (partial failure as upstream)
                total += await self._expire_user(tx, user_id, now)
        return total

    async def mark_reservation_fallback_charge(self, user_id: str, reservation_id: str) -> None:
        await self.db.execute(
            "UPDATE boring_usage_reservations SET charge_on_expire = true "
            "WHERE id = $1 AND user_id = $2 AND status = 'active'",
            reservation_id, user_id,
        )

    # ------------------------------------------------------------------ reads

    async def _balance(self, user_id: str, now: datetime) -> MeteringBalance:
        return await self._read_balance(self.db, user_id, now)

    async def _newest_rows(self, user_id: str, cap: int) -> tuple[list[CreditGrantRecord],
                                                                  list[UsageLedgerRecord]]:
        grants = await self.db.fetch(
            f"SELECT {_GRANT_COLS} FROM boring_credit_grants WHERE user_id = $1 "
            f"ORDER BY created_at DESC, id{self._binary} DESC LIMIT $2",
            user_id, cap,
        )
        debits = await self.db.fetch(
            f"SELECT {_LEDGER_COLS} FROM boring_usage_ledger WHERE user_id = $1 AND billed_cost_micros > 0 "
            f"ORDER BY created_at DESC, id{self._binary} DESC LIMIT $2",
            user_id, cap,
        )
        return [_grant(r) for r in grants], [_usage(r) for r in debits]

    async def billed_micros_for_run(self, user_id: str, run_id: str) -> int:
        return _int(await self.db.fetchval(
            "SELECT SUM(billed_cost_micros) FROM boring_usage_ledger WHERE user_id = $1 AND run_id = $2",
            user_id, run_id,
        ))

    async def billed_micros_for_reservation(self, user_id: str, reservation_id: str) -> int:
        return await self._billed_for_reservation(self.db, user_id, reservation_id)

    # ------------------------------------------------------------------ MeteringInspector

    async def get_purchase(self, order_id: str) -> CreditPurchaseRecord | None:
        return await self._read_purchase(self.db, order_id)

    async def get_reservation(self, reservation_id: str) -> UsageReservationRecord | None:
        row = await self.db.fetchrow(
            f"SELECT {_RESERVATION_COLS} FROM boring_usage_reservations WHERE id = $1", reservation_id
        )
        return None if row is None else _reservation(row)

    async def list_reservations(self, user_id: str) -> list[UsageReservationRecord]:
        return [_reservation(r) for r in await self._oldest_first(_RESERVATION_COLS, "boring_usage_reservations",
                                                                  user_id)]

    async def get_usage(self, usage_id: str) -> UsageLedgerRecord | None:
        return await self._fetch_usage(self.db, usage_id)

    async def list_usage(self, user_id: str) -> list[UsageLedgerRecord]:
        return [_usage(r) for r in await self._oldest_first(_LEDGER_COLS, "boring_usage_ledger", user_id)]

    async def list_grants(self, user_id: str) -> list[CreditGrantRecord]:
        return [_grant(r) for r in await self._oldest_first(_GRANT_COLS, "boring_credit_grants", user_id)]

    async def _oldest_first(self, columns: str, table: str, user_id: str) -> list[Row]:
        """Every row of the user in ``table``, ``created_at, id`` ascending (code-point order)."""
        return await self.db.fetch(
            f"SELECT {columns} FROM {table} WHERE user_id = $1 ORDER BY created_at, id{self._binary}", user_id)
