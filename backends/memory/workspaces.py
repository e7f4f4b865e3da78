"""In-memory workspace store: workspaces, members, invites, encrypted settings and runtimes.

Every mutation runs under the backend's one ``asyncio.Lock`` and validates before it changes anything, so
the last-owner rule and single-winner invite acceptance hold under ``asyncio.gather`` exactly as the SQL
backends' transactions make them hold. Invites are kept as plain dicts (the account-deletion cascade in
``backends.memory`` edits them in place); everything handed out is a frozen record.
"""

from __future__ import annotations

import dataclasses
from dataclasses import replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from localcore.contract import rules_membership as rules
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation
from localcore.contract.ids import new_id
from localcore.contract.tokens import hash_token, new_token
from localcore.contract.users import normalize_email
from localcore.contract.workspaces import (
    INVITE_LOCK_SECONDS,
    INVITE_LOCK_THRESHOLD,
    RUNTIME_FIELDS,
    AcceptedInvite,
    FailedAttempts,
    Invite,
    Member,
    MemberWithUser,
    MintedInvite,
    StoredSetting,
    Workspace,
    WorkspaceRuntime,
)

if TYPE_CHECKING:
    from backends.memory.state import MemoryState


class MemoryWorkspaceStore:
    def __init__(self, state: MemoryState, clock: Clock) -> None:
        self.s = state
        self.clock = clock

    # ------------------------------------------------------------------ workspaces

    def _live(self, workspace_id: str) -> Workspace | None:
        workspace = self.s.workspaces.get(workspace_id)
        return workspace if workspace is not None and workspace.deleted_at is None else None

    async def create_workspace(self, *, user_id: str, name: str, app_id: str,
                               is_default: bool = False, audit: AuditRecord | None = None) -> Workspace:
        async with self.s.lock:
            if user_id not in self.s.users:
                raise ConstraintViolation("foreign_key", "unknown user")
            if is_default and any(w.is_default and w.created_by == user_id and w.app_id == app_id
                                  for w in self.s.workspaces.values()):
                raise ConstraintViolation("unique", "idx_workspaces_default_per_user_app")
            now = self.clock()
            workspace = Workspace(id=new_id(), app_id=app_id, name=name, created_by=user_id, created_at=now,
                                  deleted_at=None, is_default=is_default)
            self.s.workspaces[workspace.id] = workspace
            self.s.members[(workspace.id, user_id)] = Member(workspace.id, user_id, "owner", now)
            self.s.audit.write(audit and audit.completed(workspace_id=workspace.id, target_type="workspace",
                                                         target_id=workspace.id, details={"name": name}))
            return workspace

    async def list_workspaces(self, user_id: str, app_id: str) -> list[Workspace]:
        found = [w for w in self.s.workspaces.values()
                 if w.app_id == app_id and w.deleted_at is None and (w.id, user_id) in self.s.members]
        found.sort(key=lambda w: w.id, reverse=True)
        found.sort(key=lambda w: (w.is_default, w.created_at), reverse=True)
        return found

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        return self._live(workspace_id)

    async def update_workspace(self, workspace_id: str, *, name: str,
                               audit: AuditRecord | None = None) -> Workspace | None:
        async with self.s.lock:
            workspace = self._live(workspace_id)
            if workspace is None:
                return None
            workspace = self.s.workspaces[workspace_id] = replace(workspace, name=name)
            self.s.audit.write(audit)
            return workspace

    async def delete_workspace(self, workspace_id: str, *, audit: AuditRecord | None = None) -> bool:
        async with self.s.lock:
            workspace = self._live(workspace_id)
            if workspace is None:
                return False
            self.s.workspaces[workspace_id] = replace(workspace, deleted_at=self.clock(), is_default=False)
            self.s.audit.write(audit)
            return True

    # ------------------------------------------------------------------ members

    def _roles(self, workspace_id: str) -> dict[str, str]:
        return {u: m.role for (w, u), m in self.s.members.items() if w == workspace_id}

    async def get_member_role(self, workspace_id: str, user_id: str) -> str | None:
        member = self.s.members.get((workspace_id, user_id))
        return member.role if member else None

    async def list_members(self, workspace_id: str) -> list[Member]:
        """``WorkspaceInspector``."""
        return sorted((m for (w, _), m in self.s.members.items() if w == workspace_id),
                      key=lambda m: (m.created_at, m.user_id))

    async def list_members_with_users(self, workspace_id: str) -> list[MemberWithUser]:
        out = []
        for member in await self.list_members(workspace_id):
            user = self.s.users.get(member.user_id)
            if user is not None:
                out.append(MemberWithUser(member, email=user.email, name=user.name, image=user.image))
        return out

    async def add_member(self, workspace_id: str, user_id: str, role: str, *,
                         audit: AuditRecord | None = None) -> Member:
        async with self.s.lock:
            rules.check_role(role)
            if workspace_id not in self.s.workspaces or user_id not in self.s.users:
                raise ConstraintViolation("foreign_key", "unknown workspace or user")
            if (workspace_id, user_id) in self.s.members:
                raise ConstraintViolation("unique", "workspace_members_pkey")
            member = self.s.members[(workspace_id, user_id)] = Member(workspace_id, user_id, role, self.clock())
            self.s.audit.write(audit)
            return member

    async def update_member_role(self, workspace_id: str, user_id: str, role: str, *,
                                 actor_id: str | None = None, audit: AuditRecord | None = None) -> Member:
        async with self.s.lock:
            rules.check_role_change(self._roles(workspace_id), user_id, role, actor_id=actor_id)
            member = self.s.members[(workspace_id, user_id)]
            old = member.role
            member = self.s.members[(workspace_id, user_id)] = replace(member, role=role)
            self.s.audit.write(audit and audit.completed(details={"oldRole": old, "newRole": role}))
            return member

    async def remove_member(self, workspace_id: str, user_id: str, *, actor_id: str | None = None,
                            audit: AuditRecord | None = None) -> None:
        async with self.s.lock:
            rules.check_removal(self._roles(workspace_id), user_id, actor_id=actor_id)
            removed = self.s.members.pop((workspace_id, user_id))
            self.s.audit.write(audit and audit.completed(details={"role": removed.role}))

    # ------------------------------------------------------------------ invites

    @staticmethod
    def _invite(record: dict[str, Any]) -> Invite:
        return Invite(**record)

    async def create_invite(self, workspace_id: str, *, email: str, role: str, invited_by: str | None,
                            ttl_days: int = 7, audit: AuditRecord | None = None) -> MintedInvite:
        async with self.s.lock:
            rules.check_role(role)
            if workspace_id not in self.s.workspaces or (invited_by is not None and invited_by not in self.s.users):
                raise ConstraintViolation("foreign_key", "unknown workspace or inviter")
            raw_token = new_token()
            now = self.clock()
            invite = Invite(id=new_id(), workspace_id=workspace_id, email=normalize_email(email),
                            token_hash=hash_token(raw_token), role=role,
                            expires_at=now + timedelta(days=ttl_days), accepted_at=None, created_by=invited_by,
                            created_at=now, failed_attempts=0, locked_until=None)
            self.s.invites[invite.id] = dataclasses.asdict(invite)
            self.s.audit.write(audit and audit.completed(target_type="invite", target_id=invite.id))
            return MintedInvite(invite, raw_token)

    async def list_invites(self, workspace_id: str) -> list[Invite]:
        found = [self._invite(r) for r in self.s.invites.values() if r["workspace_id"] == workspace_id]
        return sorted(found, key=lambda i: (i.created_at, i.id))

    async def get_invite(self, workspace_id: str, invite_id: str) -> Invite | None:
        """``WorkspaceInspector``."""
        record = self.s.invites.get(invite_id)
        return self._invite(record) if record is not None and record["workspace_id"] == workspace_id else None

    async def get_invite_by_token_hash(self, token_hash: str) -> Invite | None:
        return next((self._invite(r) for r in self.s.invites.values() if r["token_hash"] == token_hash), None)

    async def revoke_invite(self, workspace_id: str, invite_id: str, *, audit: AuditRecord | None = None) -> bool:
        async with self.s.lock:
            record = self.s.invites.get(invite_id)
            if record is None or record["workspace_id"] != workspace_id:
                return False
            del self.s.invites[invite_id]
            self.s.audit.write(audit)
            return True

    async def accept_invite(self, workspace_id: str, invite_id: str, user_id: str, *,
                            audit: AuditRecord | None = None) -> AcceptedInvite:
        async with self.s.lock:
            record = self.s.invites.get(invite_id)
            found = (record is not None and record["workspace_id"] == workspace_id
                     and self._live(workspace_id) is not None)
            user = self.s.users.get(user_id)
            now = self.clock()
            rules.check_invite_acceptance(
                found=found, accepted_at=record["accepted_at"] if record else None,
                expires_at=record["expires_at"] if record else None, invite_email=record["email"] if record else "",
                user_email=user.email if user else None, now=now)
            assert record is not None
            record["accepted_at"] = now
            existing = self.s.members.get((workspace_id, user_id))
            role = rules.role_after_accepting(existing.role if existing else None, record["role"])
            member = (replace(existing, role=role) if existing is not None
                      else Member(workspace_id, user_id, role, now))
            self.s.members[(workspace_id, user_id)] = member
            self.s.audit.write(audit and audit.completed(details={"role": role}))
            return AcceptedInvite(self._invite(record), member)

    async def increment_invite_failed_attempts(self, invite_id: str) -> FailedAttempts:
        async with self.s.lock:
            record = self.s.invites.get(invite_id)
            if record is None:
                return FailedAttempts(0, None)
            record["failed_attempts"] += 1
            if record["failed_attempts"] >= INVITE_LOCK_THRESHOLD:
                record["locked_until"] = self.clock() + timedelta(seconds=INVITE_LOCK_SECONDS)
            return FailedAttempts(record["failed_attempts"], record["locked_until"])

    async def reset_invite_failed_attempts(self, invite_id: str) -> None:
        async with self.s.lock:
            record = self.s.invites.get(invite_id)
            if record is not None:
                record["failed_attempts"] = 0
                record["locked_until"] = None

    # ------------------------------------------------------------------ encrypted settings

    async def list_workspace_settings(self, workspace_id: str) -> list[StoredSetting]:
        return sorted((s for (w, _), s in self.s.workspace_settings.items() if w == workspace_id),
                      key=lambda s: s.key)

    async def get_workspace_setting(self, workspace_id: str, key: str) -> StoredSetting | None:
        found: StoredSetting | None = self.s.workspace_settings.get((workspace_id, key))
        return found

    async def put_workspace_settings(self, workspace_id: str, values: dict[str, tuple[bytes, str]], *,
                                     audit: AuditRecord | None = None) -> None:
        async with self.s.lock:
            if workspace_id not in self.s.workspaces:
                raise ConstraintViolation("foreign_key", "unknown workspace")
            if any(not isinstance(v, bytes) or not isinstance(k, str) for v, k in values.values()):
                raise ConstraintViolation("not_null", "value and key_id are required")
            now = self.clock()
            for key, (value, key_id) in values.items():
                self.s.workspace_settings[(workspace_id, key)] = StoredSetting(workspace_id, key, bytes(value),
                                                                               key_id, now)
            self.s.audit.write(audit)

    async def delete_workspace_setting(self, workspace_id: str, key: str, *,
                                       audit: AuditRecord | None = None) -> bool:
        async with self.s.lock:
            if self.s.workspace_settings.pop((workspace_id, key), None) is None:
                return False
            self.s.audit.write(audit)
            return True

    async def list_all_workspace_settings(self) -> list[StoredSetting]:
        return sorted(self.s.workspace_settings.values(), key=lambda s: (s.workspace_id, s.key))

    async def replace_workspace_setting(self, workspace_id: str, key: str, *, expected: bytes, value: bytes,
                                        key_id: str) -> bool:
        async with self.s.lock:
            current: StoredSetting | None = self.s.workspace_settings.get((workspace_id, key))
            if current is None or current.value != expected:
                return False
            self.s.workspace_settings[(workspace_id, key)] = replace(current, value=bytes(value), key_id=key_id)
            return True

    # ------------------------------------------------------------------ runtime

    def _ensure_runtime(self, workspace_id: str) -> WorkspaceRuntime | None:
        if self._live(workspace_id) is None:
            return None
        runtime: WorkspaceRuntime | None = self.s.runtimes.get(workspace_id)
        if runtime is None:
            runtime = self.s.runtimes[workspace_id] = WorkspaceRuntime(workspace_id, "ready", self.clock())
        return runtime

    async def get_workspace_runtime(self, workspace_id: str) -> WorkspaceRuntime | None:
        async with self.s.lock:
            return self._ensure_runtime(workspace_id)

    async def put_workspace_runtime(self, workspace_id: str, changes: dict[str, Any], *,
                                    audit: AuditRecord | None = None) -> WorkspaceRuntime:
        unknown = set(changes) - set(RUNTIME_FIELDS)
        if unknown:
            raise ValueError(f"unknown runtime fields: {sorted(unknown)}")
        async with self.s.lock:
            current = self._ensure_runtime(workspace_id)
            if current is None:
                raise LookupError(f"Workspace {workspace_id} not found")
            if changes.get("state", current.state) not in ("pending", "ready", "error"):
                raise ConstraintViolation("check", "state")
            runtime = self.s.runtimes[workspace_id] = replace(current, **changes, updated_at=self.clock())
            self.s.audit.write(audit)
            return runtime
