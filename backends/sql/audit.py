"""The audit log in SQL: ``insert_audit`` (called by every audited store method inside its own
transaction), the account deletion's purge, and ``SqlAuditStore`` (``backend.audit``)."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from backends.sql.db import Database, Executor, Row, json_column
from localcore.contract.audit import AuditCursor, AuditEvent, AuditRecord, check_limit, event_of
from localcore.contract.clock import Clock
from localcore.contract.ids import new_id

_COLUMNS = ("id, action, actor_id, workspace_id, target_type, target_id, details, ip, user_agent, request_id, "
            "created_at")
_USER_ACTIVITY = "(actor_id = {p} OR (target_type = 'user' AND target_id = {p}))"


async def insert_audit(tx: Executor, clock: Clock, record: AuditRecord | None) -> AuditEvent | None:
    """Write ``record`` inside the caller's transaction (nothing for None)."""
    if record is None:
        return None
    event = event_of(record, event_id=new_id(), created_at=clock())
    await tx.execute(
        f"INSERT INTO audit_events ({_COLUMNS}) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, $9, $10, $11)",
        event.id, event.action, event.actor_id, event.workspace_id, event.target_type, event.target_id,
        event.details, event.ip, event.user_agent, event.request_id, event.created_at)
    return event


async def delete_personal_events(tx: Executor, user_id: str) -> None:
    """``audit.is_personal``: the user's activity outside any workspace (account deletion)."""
    await tx.execute(f"DELETE FROM audit_events WHERE workspace_id IS NULL AND {_USER_ACTIVITY.format(p='$1')}",
                     user_id)


def _event(row: Row) -> AuditEvent:
    return AuditEvent(
        id=row["id"], action=row["action"], actor_id=row["actor_id"], workspace_id=row["workspace_id"],
        target_type=row["target_type"], target_id=row["target_id"], details=json_column(row["details"]) or {},
        ip=row["ip"], user_agent=row["user_agent"], request_id=row["request_id"], created_at=row["created_at"])



class SqlAuditStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock
        self._id = ' COLLATE "C"' if db.dialect == "postgres" else ""

    async def append(self, record: AuditRecord) -> AuditEvent:
        async with self.db.transaction() as tx:
            event = await insert_audit(tx, self.clock, record)
        assert event is not None
        return event

    async def _page(self, where: str, args: list[Any], limit: int, before: AuditCursor | None) -> list[AuditEvent]:
        if before is not None:
            args = [*args, before[0], before[1]]
            c, i = len(args) - 1, len(args)
            where += f" AND (created_at < ${c} OR (created_at = ${c} AND id{self._id} < ${i}{self._id}))"
        args.append(limit)
        rows = await self.db.fetch(
            f"SELECT {_COLUMNS} FROM audit_events WHERE {where} "
            f"ORDER BY created_at DESC, id{self._id} DESC LIMIT ${len(args)}", *args)
        return [_event(r) for r in rows]

    async def list_for_workspace(self, workspace_id: str, *, limit: int,
                                 before: AuditCursor | None = None) -> list[AuditEvent]:
        return await self._page("workspace_id = $1", [workspace_id], check_limit(limit), before)

    async def list_for_user(self, user_id: str, *, limit: int,
                            before: AuditCursor | None = None) -> list[AuditEvent]:
        return await self._page(_USER_ACTIVITY.format(p="$1"), [user_id], check_limit(limit), before)

    async def search(self, *, workspace_id: str | None = None, user_id: str | None = None,
                     action: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[AuditEvent]:
        check_limit(limit, cap=None)
        where: list[str] = ["1 = 1"]
        args: list[Any] = []
        for column, value in (("workspace_id", workspace_id), ("action", action)):
            if value is not None:
                args.append(value)
                where.append(f"{column} = ${len(args)}")
        if user_id is not None:
            args.append(user_id)
            where.append(_USER_ACTIVITY.format(p=f"${len(args)}"))
        if since is not None:
            args.append(since)
            where.append(f"created_at >= ${len(args)}")
        return await self._page(" AND ".join(where), args, limit, None)

    async def sweep(self, older_than: datetime) -> int:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM audit_events WHERE created_at < $1", older_than)
