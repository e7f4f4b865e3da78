"""Encrypted workspace settings and runtimes in SQL: the half of ``SqlWorkspaceStore`` that is about a
workspace's stored state rather than its people. Audited writes insert their event in their own
transaction."""

from __future__ import annotations

from typing import Any

from backends.sql.audit import insert_audit
from backends.sql.db import Database, Executor, Row
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation
from localcore.contract.ids import is_uuid
from localcore.contract.workspaces import RUNTIME_FIELDS, StoredSetting, WorkspaceRuntime


def _setting(row: Row) -> StoredSetting:
    return StoredSetting(workspace_id=row["workspace_id"], key=row["key"], value=bytes(row["value"]),
                         key_id=row["key_id"], updated_at=row["updated_at"])


def _runtime(row: Row) -> WorkspaceRuntime:
    return WorkspaceRuntime(workspace_id=row["workspace_id"], updated_at=row["updated_at"],
                            **{name: row[name] for name in RUNTIME_FIELDS})


class SqlSettingsAndRuntime:
    db: Database
    clock: Clock

    # ------------------------------------------------------------------ encrypted settings

    async def list_workspace_settings(self, workspace_id: str) -> list[StoredSetting]:
        if not is_uuid(workspace_id):
            return []
        rows = await self.db.fetch("SELECT workspace_id, key, value, key_id, updated_at FROM workspace_settings "
                                   "WHERE workspace_id = $1", workspace_id)
        # Sorted here, not in SQL: Postgres collations differ from SQLite's byte order.
        return sorted((_setting(r) for r in rows), key=lambda s: s.key)

    async def get_workspace_setting(self, workspace_id: str, key: str) -> StoredSetting | None:
        if not is_uuid(workspace_id):
            return None
        row = await self.db.fetchrow("SELECT workspace_id, key, value, key_id, updated_at FROM workspace_settings "
                                     "WHERE workspace_id = $1 AND key = $2", workspace_id, key)
        return _setting(row) if row else None

    async def put_workspace_settings(self, workspace_id: str, values: dict[str, tuple[bytes, str]], *,
                                     audit: AuditRecord | None = None) -> None:
        if not is_uuid(workspace_id):
            raise ConstraintViolation("foreign_key", "unknown workspace")
        now = self.clock()
        async with self.db.transaction() as tx:
            for key, (value, key_id) in values.items():
                await tx.execute(
                    "INSERT INTO workspace_settings (workspace_id, key, value, key_id, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5) ON CONFLICT (workspace_id, key) DO UPDATE SET "
                    "value = excluded.value, key_id = excluded.key_id, updated_at = excluded.updated_at",
                    workspace_id, key, value, key_id, now)
            await insert_audit(tx, self.clock, audit)

    async def delete_workspace_setting(self, workspace_id: str, key: str, *,
                                       audit: AuditRecord | None = None) -> bool:
        if not is_uuid(workspace_id):
            return False
        async with self.db.transaction() as tx:
            deleted = await tx.execute("DELETE FROM workspace_settings WHERE workspace_id = $1 AND key = $2",
                                       workspace_id, key) > 0
            if deleted:
                await insert_audit(tx, self.clock, audit)
            return deleted

    async def list_all_workspace_settings(self) -> list[StoredSetting]:
        rows = await self.db.fetch("SELECT workspace_id, key, value, key_id, updated_at FROM workspace_settings")
        return sorted((_setting(r) for r in rows), key=lambda s: (s.workspace_id, s.key))

    async def replace_workspace_setting(self, workspace_id: str, key: str, *, expected: bytes, value: bytes,
                                        key_id: str) -> bool:
        if not is_uuid(workspace_id):
            return False
        async with self.db.transaction() as tx:
            return await tx.execute(
                "UPDATE workspace_settings SET value = $3, key_id = $4 WHERE workspace_id = $1 AND key = $2 "
                "AND value = $5", workspace_id, key, value, key_id, expected) > 0

    # ------------------------------------------------------------------ runtime

    async def get_workspace_runtime(self, workspace_id: str) -> WorkspaceRuntime | None:
        if not is_uuid(workspace_id):
            return None
        row = await self.db.fetchrow(
            "SELECT r.*, w.id AS live_id FROM workspaces w LEFT JOIN workspace_runtimes r "
            "ON r.workspace_id = w.id WHERE w.id = $1 AND w.deleted_at IS NULL", workspace_id)
        if row is None:
            return None
        if row["workspace_id"] is not None:
            return _runtime(row)
        async with self.db.transaction() as tx:
            if not await self._ensure_runtime(tx, workspace_id):
                return None
            created = await tx.fetchrow("SELECT * FROM workspace_runtimes WHERE workspace_id = $1", workspace_id)
        assert created is not None
        return _runtime(created)

    async def _ensure_runtime(self, tx: Executor, workspace_id: str) -> bool:
        """Insert the default ``ready`` row if missing; False if the workspace is missing or deleted."""
        if not await tx.fetchval("SELECT 1 FROM workspaces WHERE id = $1 AND deleted_at IS NULL", workspace_id):
            return False
        await tx.execute("INSERT INTO workspace_runtimes (workspace_id, state, updated_at) VALUES ($1, 'ready', $2) "
                         "ON CONFLICT (workspace_id) DO NOTHING", workspace_id, self.clock())
        return True

    async def put_workspace_runtime(self, workspace_id: str, changes: dict[str, Any], *,
                                    audit: AuditRecord | None = None) -> WorkspaceRuntime:
        unknown = set(changes) - set(RUNTIME_FIELDS)
        if unknown:
            raise ValueError(f"unknown runtime fields: {sorted(unknown)}")
        if not is_uuid(workspace_id):
            raise LookupError(f"Workspace {workspace_id} not found")
        names = list(changes)
        sets = ", ".join(["updated_at = $2", *(f"{name} = ${i}" for i, name in enumerate(names, start=3))])
        async with self.db.transaction() as tx:
            if not await self._ensure_runtime(tx, workspace_id):
                raise LookupError(f"Workspace {workspace_id} not found")
            row = await tx.fetchrow(f"UPDATE workspace_runtimes SET {sets} WHERE workspace_id = $1 RETURNING *",
                                    workspace_id, self.clock(), *(changes[n] for n in names))
            await insert_audit(tx, self.clock, audit)
        assert row is not None
        return _runtime(row)
