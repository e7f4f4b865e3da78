"""The workspace store (workspaces, members, invites, encrypted settings, runtimes) written once in SQL.

Serialisation of the last-owner rule: every role change and removal first takes ``FOR UPDATE`` on all the
workspace's member rows (Postgres; rows locked in ``user_id`` order so two changers never deadlock), then
re-reads the members with a fresh statement — under READ COMMITTED that read sees everything committed by
whoever held the locks before. SQLite's adapter strips ``FOR UPDATE``: its ``BEGIN IMMEDIATE`` already
serialises every writer of the file, in this process and others. Invite acceptance locks the invite row and
also updates it only ``WHERE accepted_at IS NULL``, so of two racing accepts exactly one wins.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

from backends.sql.audit import insert_audit
from backends.sql.db import Database, Executor, Row
from backends.sql.workspace_settings import SqlSettingsAndRuntime
from localcore.contract import rules_membership as rules
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation, InviteError, MembershipError
from localcore.contract.ids import is_uuid, new_id
from localcore.contract.tokens import hash_token, new_token
from localcore.contract.users import normalize_email
from localcore.contract.workspaces import (
    INVITE_LOCK_SECONDS,
    INVITE_LOCK_THRESHOLD,
    AcceptedInvite,
    FailedAttempts,
    Invite,
    Member,
    MemberWithUser,
    MintedInvite,
    Workspace,
)

_INVITE_COLUMNS = ("id, workspace_id, email, token_hash, role, expires_at, accepted_at, created_by, created_at, "
                   "failed_attempts, locked_until")
_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


def _time(value: Any) -> datetime | None:
    """A timestamp column whose name does not end in ``_at`` (SQLite hands back epoch microseconds)."""
    if isinstance(value, int):
        return _EPOCH + timedelta(microseconds=value)
    return value if isinstance(value, datetime) else None


def workspace_from_row(row: Row) -> Workspace:
    return Workspace(
        id=row["id"], app_id=row["app_id"], name=row["name"], created_by=row["created_by"],
        created_at=row["created_at"], deleted_at=row["deleted_at"], is_default=bool(row["is_default"]),
    )


def member_from_row(row: Row) -> Member:
    return Member(workspace_id=row["workspace_id"], user_id=row["user_id"], role=row["role"],
                  created_at=row["created_at"])


def _invite(row: Row) -> Invite:
    return Invite(
        id=row["id"], workspace_id=row["workspace_id"], email=row["email"], token_hash=row["token_hash"],
        role=row["role"], expires_at=row["expires_at"], accepted_at=row["accepted_at"],
        created_by=row["created_by"], created_at=row["created_at"], failed_attempts=int(row["failed_attempts"]),
        locked_until=_time(row["locked_until"]),
    )


class SqlWorkspaceStore(SqlSettingsAndRuntime):
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    # ------------------------------------------------------------------ workspaces

    async def create_workspace(self, *, user_id: str, name: str, app_id: str,
                               is_default: bool = False, audit: AuditRecord | None = None) -> Workspace:
        if not is_uuid(user_id):
            raise ConstraintViolation("foreign_key", "unknown user")
        now = self.clock()
        workspace_id = new_id()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO workspaces (id, app_id, name, created_by, created_at, is_default) "
                "VALUES ($1, $2, $3, $4, $5, $6) RETURNING *",
                workspace_id, app_id, name, user_id, now, is_default)
            await tx.execute(
                "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) "
                "VALUES ($1, $2, 'owner', $3)", workspace_id, user_id, now)
            await insert_audit(tx, self.clock, audit and audit.completed(
                workspace_id=workspace_id, target_type="workspace", target_id=workspace_id,
                details={"name": name}))
        assert row is not None
        return workspace_from_row(row)

    async def list_workspaces(self, user_id: str, app_id: str) -> list[Workspace]:
        if not is_uuid(user_id):
            return []
        rows = await self.db.fetch(
            "SELECT w.* FROM workspaces w JOIN workspace_members m ON m.workspace_id = w.id "
            "WHERE m.user_id = $1 AND w.app_id = $2 AND w.deleted_at IS NULL "
            "ORDER BY w.is_default DESC, w.created_at DESC, w.id DESC", user_id, app_id)
        return [workspace_from_row(r) for r in rows]

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        if not is_uuid(workspace_id):
            return None
        row = await self.db.fetchrow("SELECT * FROM workspaces WHERE id = $1 AND deleted_at IS NULL",
                                     workspace_id)
        return workspace_from_row(row) if row else None

    async def update_workspace(self, workspace_id: str, *, name: str,
                               audit: AuditRecord | None = None) -> Workspace | None:
        if not is_uuid(workspace_id):
            return None
        async with self.db.transaction() as tx:
            row = await tx.fetchrow("UPDATE workspaces SET name = $2 WHERE id = $1 AND deleted_at IS NULL "
                                    "RETURNING *", workspace_id, name)
            if row is not None:
                await insert_audit(tx, self.clock, audit)
        return workspace_from_row(row) if row else None

    async def delete_workspace(self, workspace_id: str, *, audit: AuditRecord | None = None) -> bool:
        if not is_uuid(workspace_id):
            return False
        async with self.db.transaction() as tx:
            deleted = await tx.execute("UPDATE workspaces SET deleted_at = $2, is_default = $3 WHERE id = $1 "
                                       "AND deleted_at IS NULL", workspace_id, self.clock(), False) > 0
            if deleted:
                await insert_audit(tx, self.clock, audit)
            return deleted

    # ------------------------------------------------------------------ members

    async def get_member_role(self, workspace_id: str, user_id: str) -> str | None:
        if not (is_uuid(workspace_id) and is_uuid(user_id)):
            return None
        role = await self.db.fetchval(
            "SELECT role FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
            workspace_id, user_id)
        return str(role) if role is not None else None

    async def list_members(self, workspace_id: str) -> list[Member]:
        """``WorkspaceInspector``."""
        if not is_uuid(workspace_id):
            return []
        rows = await self.db.fetch("SELECT * FROM workspace_members WHERE workspace_id = $1 "
                                   "ORDER BY created_at ASC, user_id ASC", workspace_id)
        return [member_from_row(r) for r in rows]

    async def list_members_with_users(self, workspace_id: str) -> list[MemberWithUser]:
        if not is_uuid(workspace_id):
            return []
        rows = await self.db.fetch(
            "SELECT m.workspace_id, m.user_id, m.role, m.created_at, u.email, u.name, u.image "
            "FROM workspace_members m JOIN users u ON u.id = m.user_id WHERE m.workspace_id = $1 "
            "ORDER BY m.created_at ASC, m.user_id ASC", workspace_id)
        return [MemberWithUser(member_from_row(r), email=r["email"], name=r["name"], image=r["image"])
                for r in rows]

    async def add_member(self, workspace_id: str, user_id: str, role: str, *,
                         audit: AuditRecord | None = None) -> Member:
        if not (is_uuid(workspace_id) and is_uuid(user_id)):
            raise ConstraintViolation("foreign_key", "unknown workspace or user")
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) "
                "VALUES ($1, $2, $3, $4) RETURNING *", workspace_id, user_id, role, self.clock())
            await insert_audit(tx, self.clock, audit)
        assert row is not None
        return member_from_row(row)

    async def _locked_roles(self, tx: Executor, workspace_id: str) -> dict[str, str]:
        """Lock every member row of the workspace, then read the roles as they are now."""
        await tx.fetch("SELECT user_id FROM workspace_members WHERE workspace_id = $1 ORDER BY user_id "
                       "FOR UPDATE", workspace_id)
        rows = await tx.fetch("SELECT user_id, role FROM workspace_members WHERE workspace_id = $1", workspace_id)
        return {r["user_id"]: r["role"] for r in rows}

    async def update_member_role(self, workspace_id: str, user_id: str, role: str, *,
                                 actor_id: str | None = None, audit: AuditRecord | None = None) -> Member:
        rules.check_role(role)
        if not (is_uuid(workspace_id) and is_uuid(user_id)):
            raise MembershipError("not_member")
        async with self.db.transaction() as tx:
            roles = await self._locked_roles(tx, workspace_id)
            rules.check_role_change(roles, user_id, role, actor_id=actor_id)
            row = await tx.fetchrow("UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 "
                                    "AND user_id = $2 RETURNING *", workspace_id, user_id, role)
            await insert_audit(tx, self.clock, audit and audit.completed(
                details={"oldRole": roles[user_id], "newRole": role}))
        assert row is not None
        return member_from_row(row)

    async def remove_member(self, workspace_id: str, user_id: str, *, actor_id: str | None = None,
                            audit: AuditRecord | None = None) -> None:
        if not (is_uuid(workspace_id) and is_uuid(user_id)):
            raise MembershipError("not_member")
        async with self.db.transaction() as tx:
            roles = await self._locked_roles(tx, workspace_id)
            rules.check_removal(roles, user_id, actor_id=actor_id)
            await tx.execute("DELETE FROM workspace_members WHERE workspace_id = $1 AND user_id = $2",
                             workspace_id, user_id)
            await insert_audit(tx, self.clock, audit and audit.completed(details={"role": roles[user_id]}))

    # ------------------------------------------------------------------ invites

    async def create_invite(self, workspace_id: str, *, email: str, role: str, invited_by: str | None,
                            ttl_days: int = 7, audit: AuditRecord | None = None) -> MintedInvite:
        rules.check_role(role)
        if not is_uuid(workspace_id) or (invited_by is not None and not is_uuid(invited_by)):
            raise ConstraintViolation("foreign_key", "unknown workspace or inviter")
        raw_token = new_token()
        token_hash = hash_token(raw_token)
        now = self.clock()
        invite_id = new_id()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO workspace_invites (id, workspace_id, email, token_hash, role, expires_at, "
                "created_by, created_at, failed_attempts) VALUES ($1, $2, $3, $4, $5, $6, $7, $8, 0) "
                f"RETURNING {_INVITE_COLUMNS}",
                invite_id, workspace_id, normalize_email(email), token_hash, role,
                now + timedelta(days=ttl_days), invited_by, now)
            await insert_audit(tx, self.clock, audit and audit.completed(target_type="invite", target_id=invite_id))
        assert row is not None
        return MintedInvite(_invite(row), raw_token)

    async def list_invites(self, workspace_id: str) -> list[Invite]:
        if not is_uuid(workspace_id):
            return []
        rows = await self.db.fetch(f"SELECT {_INVITE_COLUMNS} FROM workspace_invites WHERE workspace_id = $1 "
                                   "ORDER BY created_at ASC, id ASC", workspace_id)
        return [_invite(r) for r in rows]

    async def get_invite(self, workspace_id: str, invite_id: str) -> Invite | None:
        """``WorkspaceInspector``."""
        if not (is_uuid(workspace_id) and is_uuid(invite_id)):
            return None
        row = await self.db.fetchrow(f"SELECT {_INVITE_COLUMNS} FROM workspace_invites WHERE id = $1 "
                                     "AND workspace_id = $2", invite_id, workspace_id)
        return _invite(row) if row else None

    async def get_invite_by_token_hash(self, token_hash: str) -> Invite | None:
        row = await self.db.fetchrow(f"SELECT {_INVITE_COLUMNS} FROM workspace_invites WHERE token_hash = $1",
                                     token_hash)
        return _invite(row) if row else None

    async def revoke_invite(self, workspace_id: str, invite_id: str, *, audit: AuditRecord | None = None) -> bool:
        if not (is_uuid(workspace_id) and is_uuid(invite_id)):
            return False
        async with self.db.transaction() as tx:
            revoked = await tx.execute("DELETE FROM workspace_invites WHERE id = $1 AND workspace_id = $2",
                                       invite_id, workspace_id) > 0
            if revoked:
                await insert_audit(tx, self.clock, audit)
            return revoked

    async def accept_invite(self, workspace_id: str, invite_id: str, user_id: str, *,
                            audit: AuditRecord | None = None) -> AcceptedInvite:
        if not (is_uuid(workspace_id) and is_uuid(invite_id)):
            raise InviteError("invite_not_found")
        now = self.clock()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "SELECT i.accepted_at, i.expires_at, i.email, i.role, w.deleted_at AS workspace_deleted_at "
                "FROM workspace_invites i JOIN workspaces w ON w.id = i.workspace_id "
                "WHERE i.id = $1 AND i.workspace_id = $2 FOR UPDATE OF i", invite_id, workspace_id)
            email = await tx.fetchval("SELECT email FROM users WHERE id = $1", user_id) if is_uuid(user_id) else None
            rules.check_invite_acceptance(
                found=row is not None and row["workspace_deleted_at"] is None,
                accepted_at=row["accepted_at"] if row else None, expires_at=row["expires_at"] if row else None,
                invite_email=row["email"] if row else "", user_email=email, now=now)
            assert row is not None
            accepted = await tx.fetchrow(
                f"UPDATE workspace_invites SET accepted_at = $2 WHERE id = $1 AND accepted_at IS NULL "
                f"RETURNING {_INVITE_COLUMNS}", invite_id, now)
            if accepted is None:
                raise InviteError("invite_already_accepted")
            member = await self._join_with_invited_role(tx, workspace_id, user_id, row["role"], now)
            assert member is not None
            await insert_audit(tx, self.clock, audit and audit.completed(details={"role": member["role"]}))
        return AcceptedInvite(_invite(accepted), member_from_row(member))

    @staticmethod
    async def _join_with_invited_role(tx: Executor, workspace_id: str, user_id: str, invited: str,
                                      now: datetime) -> Row | None:
        """Write the membership ``rules_membership.role_after_accepting`` decides, from the role seen under
        the row lock. A concurrent accept that inserts the membership first makes the insert a no-op: the
        rule is then asked again with the role it wrote, so neither accept can lower the other's."""
        for _ in range(2):
            existing = await tx.fetchval("SELECT role FROM workspace_members WHERE workspace_id = $1 AND "
                                         "user_id = $2 FOR UPDATE", workspace_id, user_id)
            role = rules.role_after_accepting(existing, invited)
            if existing is not None:
                return await tx.fetchrow("UPDATE workspace_members SET role = $3 WHERE workspace_id = $1 AND "
                                         "user_id = $2 RETURNING *", workspace_id, user_id, role)
            inserted = await tx.fetchrow(
                "INSERT INTO workspace_members (workspace_id, user_id, role, created_at) VALUES ($1, $2, $3, $4) "
                "ON CONFLICT (workspace_id, user_id) DO NOTHING RETURNING *", workspace_id, user_id, role, now)
            if inserted is not None:
                return inserted
        return None

    async def increment_invite_failed_attempts(self, invite_id: str) -> FailedAttempts:
        if not is_uuid(invite_id):
            return FailedAttempts(0, None)
        lock_until = self.clock() + timedelta(seconds=INVITE_LOCK_SECONDS)
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "UPDATE workspace_invites SET failed_attempts = failed_attempts + 1, locked_until = CASE "
                "WHEN failed_attempts + 1 >= $2 THEN $3 ELSE locked_until END WHERE id = $1 "
                "RETURNING failed_attempts, locked_until", invite_id, INVITE_LOCK_THRESHOLD, lock_until)
        if row is None:
            return FailedAttempts(0, None)
        return FailedAttempts(int(row["failed_attempts"]), _time(row["locked_until"]))

    async def reset_invite_failed_attempts(self, invite_id: str) -> None:
        if not is_uuid(invite_id):
            return
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE workspace_invites SET failed_attempts = 0, locked_until = NULL WHERE id = $1",
                             invite_id)
