"""Users, their accounts and settings, and the account deletion, in memory (``UserStore``)."""

from __future__ import annotations

import copy
from dataclasses import replace
from typing import Any

from backends.memory.metering import MemoryMeteringStore
from backends.memory.state import MemoryState
from localcore.contract import rules_membership as rules
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation, DuplicateEmail
from localcore.contract.ids import new_id
from localcore.contract.users import Account, User, UserSettings, normalize_email


class MemoryUserStore:
    def __init__(self, state: MemoryState, clock: Clock, metering: MemoryMeteringStore) -> None:
        self.s = state
        self.clock = clock
        self.metering = metering

    def _email_taken(self, email: str, except_id: str | None = None) -> bool:
        return any(u.email == email and u.id != except_id for u in self.s.users.values())

    async def create_user(self, *, email: str, name: str = "", image: str | None = None,
                          email_verified: bool = False, password_hash: str | None = None,
                          audit: AuditRecord | None = None) -> User:
        async with self.s.lock:
            email = normalize_email(email)
            if self._email_taken(email):
                raise DuplicateEmail()
            now = self.clock()
            user = User(id=new_id(), email=email, name=name, email_verified=email_verified, image=image,
                        created_at=now, updated_at=now)
            self.s.users[user.id] = user
            if password_hash is not None:
                account = Account(id=new_id(), user_id=user.id, provider_id="credential", account_id=user.id,
                                  password_hash=password_hash, created_at=now, updated_at=now)
                self.s.accounts[account.id] = account
            self.s.audit.write(audit and audit.completed(actor_id=user.id, target_type="user", target_id=user.id))
            return user

    async def get_user(self, user_id: str) -> User | None:
        return self.s.users.get(user_id)

    async def get_user_by_email(self, email: str) -> User | None:
        email = normalize_email(email)
        return next((u for u in self.s.users.values() if u.email == email), None)

    async def update_user(self, user_id: str, *, name: str | None = None, image: str | None = None,
                          email: str | None = None, email_verified: bool | None = None,
                          clear_image: bool = False, audit: AuditRecord | None = None) -> User | None:
        async with self.s.lock:
            user = self.s.users.get(user_id)
            if user is None:
                return None
            changes: dict[str, Any] = {"updated_at": self.clock()}
            if name is not None:
                changes["name"] = name
            if image is not None:
                changes["image"] = image
            elif clear_image:
                changes["image"] = None
            if email_verified is not None:
                changes["email_verified"] = email_verified
            if email is not None:
                email = normalize_email(email)
                if self._email_taken(email, except_id=user_id):
                    raise DuplicateEmail()
                changes["email"] = email
            user = replace(user, **changes)
            self.s.users[user_id] = user
            self.s.audit.write(audit)
            return user

    async def count_users(self) -> int:
        return len(self.s.users)

    async def link_account(self, *, user_id: str, provider_id: str, account_id: str,
                           password_hash: str | None = None) -> Account:
        async with self.s.lock:
            if user_id not in self.s.users:
                raise ConstraintViolation("foreign_key", "unknown user")
            if any(a.provider_id == provider_id and a.account_id == account_id
                   for a in self.s.accounts.values()):
                raise ConstraintViolation("unique", "account already linked")
            now = self.clock()
            account = Account(id=new_id(), user_id=user_id, provider_id=provider_id, account_id=account_id,
                              password_hash=password_hash, created_at=now, updated_at=now)
            self.s.accounts[account.id] = account
            return account

    async def get_account(self, provider_id: str, account_id: str) -> Account | None:
        return next((a for a in self.s.accounts.values()
                     if a.provider_id == provider_id and a.account_id == account_id), None)

    async def get_credential(self, user_id: str) -> Account | None:
        return next((a for a in self.s.accounts.values()
                     if a.user_id == user_id and a.provider_id == "credential"), None)

    async def set_password_hash(self, user_id: str, password_hash: str, *,
                                audit: AuditRecord | None = None) -> None:
        async with self.s.lock:
            if user_id not in self.s.users:
                raise ConstraintViolation("foreign_key", "unknown user")
            now = self.clock()
            existing = await self.get_credential(user_id)
            if existing is None:
                account = Account(id=new_id(), user_id=user_id, provider_id="credential", account_id=user_id,
                                  password_hash=password_hash, created_at=now, updated_at=now)
                self.s.accounts[account.id] = account
            else:
                self.s.accounts[existing.id] = replace(existing, password_hash=password_hash, updated_at=now)
            self.s.audit.write(audit)

    async def unlink_account(self, user_id: str, provider_id: str) -> bool:
        async with self.s.lock:
            doomed = [k for k, a in self.s.accounts.items()
                      if a.user_id == user_id and a.provider_id == provider_id]
            for key in doomed:
                del self.s.accounts[key]
            return bool(doomed)

    async def get_user_settings(self, user_id: str, app_id: str) -> UserSettings:
        stored = self.s.user_settings.get((user_id, app_id))
        if stored is not None:
            return replace(stored, settings=copy.deepcopy(stored.settings))
        user = self.s.users.get(user_id)
        return UserSettings(display_name=user.name if user else "", email=user.email if user else "",
                            settings={})

    async def put_user_settings(self, user_id: str, app_id: str, *, display_name: str | None = None,
                                email: str | None = None,
                                settings: dict[str, Any] | None = None) -> UserSettings:
        current = await self.get_user_settings(user_id, app_id)
        async with self.s.lock:
            if user_id not in self.s.users:
                raise ConstraintViolation("foreign_key", "unknown user")
            merged = UserSettings(
                display_name=current.display_name if display_name is None else display_name,
                email=current.email if email is None else email,
                settings=copy.deepcopy(current.settings if settings is None else settings),
            )
            self.s.user_settings[(user_id, app_id)] = merged
            self.s.user_settings_updated_at[(user_id, app_id)] = self.clock()
            return replace(merged, settings=copy.deepcopy(merged.settings))

    async def delete_user_completely(self, user_id: str, *, audit: AuditRecord | None = None) -> bool:
        async with self.s.lock:
            if user_id not in self.s.users:
                return False
            self._cascade(user_id)
            self.s.audit.delete_personal(user_id)
            self.s.audit.write(audit and audit.completed(target_type="user", target_id=user_id))
        await self.metering.delete_user_rows(user_id)
        return True

    def _hard_delete_workspace(self, workspace_id: str) -> None:
        s = self.s
        s.workspaces.pop(workspace_id, None)
        s.runtimes.pop(workspace_id, None)
        for key in [k for k in s.members if k[0] == workspace_id]:
            del s.members[key]
        for key in [k for k in s.workspace_settings if k[0] == workspace_id]:
            del s.workspace_settings[key]
        for invite_id in [i for i, inv in s.invites.items() if inv["workspace_id"] == workspace_id]:
            del s.invites[invite_id]
        s.drop_plain_rows("workspace_id", workspace_id)

    def _facts(self, user_id: str) -> list[rules.WorkspaceFact]:
        s = self.s
        ids = {w for (w, u) in s.members if u == user_id} | {
            w.id for w in s.workspaces.values() if w.created_by == user_id}
        return [rules.WorkspaceFact(
            id=w, created_by=s.workspaces[w].created_by, deleted=s.workspaces[w].deleted_at is not None,
            members=tuple(rules.MemberFact(m.user_id, m.role, m.created_at)
                          for (ws, _), m in s.members.items() if ws == w))
            for w in sorted(ids) if w in s.workspaces]

    def _cascade(self, user_id: str) -> None:
        """Delete the account on plain dicts (the caller holds the lock): the workspace side as
        ``rules_membership.plan_account_deletion`` decides, then everything of the user."""
        s = self.s
        plan = rules.plan_account_deletion(user_id, self._facts(user_id))
        for ws_id, heir in plan.promotions:
            s.members[(ws_id, heir)] = replace(s.members[(ws_id, heir)], role="owner")
            s.workspaces[ws_id] = replace(s.workspaces[ws_id], created_by=heir)
        for ws_id, creator in plan.new_creators:
            s.workspaces[ws_id] = replace(s.workspaces[ws_id], created_by=creator)
        for ws_id in plan.hard_deletes:
            self._hard_delete_workspace(ws_id)
        for key in [k for k in s.members if k[1] == user_id]:
            del s.members[key]
        for invite_id, invite in list(s.invites.items()):
            if invite["created_by"] == user_id:
                if invite["accepted_at"] is None:
                    del s.invites[invite_id]
                else:
                    invite["created_by"] = None
        for token_key in [k for k, t in s.tokens.items() if t.data.get("userId") == user_id]:
            del s.tokens[token_key]
            s.token_ids.pop(token_key, None)
        for session_key in [k for k, sess in s.sessions.items() if sess.user_id == user_id]:
            del s.sessions[session_key]
        for account_id in [k for k, a in s.accounts.items() if a.user_id == user_id]:
            del s.accounts[account_id]
        for settings_key in [k for k in s.user_settings if k[0] == user_id]:
            del s.user_settings[settings_key]
            s.user_settings_updated_at.pop(settings_key, None)
        del s.users[user_id]
