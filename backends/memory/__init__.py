"""In-memory backend: dicts guarded by one ``asyncio.Lock``. For tests and throwaway dev servers.

Every mutating method takes the lock, validates first and mutates last, so a failure leaves nothing half
done (the same all-or-nothing rule the SQL backends get from transactions). Records are frozen
dataclasses, so callers can never mutate stored state by accident.
"""

from __future__ import annotations

import asyncio
import copy
from contextlib import AbstractAsyncContextManager
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from backends.memory import snapshot as snapshots
from backends.memory.metering import MemoryMeteringStore
from backends.memory.workspaces import MemoryWorkspaceStore
from localcore.contract import rules_membership as rules
from localcore.contract.clock import Clock, system_clock
from localcore.contract.errors import ConstraintViolation, DuplicateEmail
from localcore.contract.idempotency import IdempotencyRecord
from localcore.contract.ids import new_id
from localcore.contract.ledger import LedgerVocabulary
from localcore.contract.ratelimits import RateLimitHit
from localcore.contract.sessions import OneTimeToken, Session
from localcore.contract.users import Account, User, UserSettings, normalize_email
from localcore.contract.workspaces import Member, Workspace


class MemoryState:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users: dict[str, User] = {}
        self.accounts: dict[str, Account] = {}
        self.sessions: dict[str, Session] = {}  # by token hash
        self.tokens: dict[str, OneTimeToken] = {}  # by "<kind>:<hash>"
        self.user_settings: dict[tuple[str, str], UserSettings] = {}
        self.workspaces: dict[str, Workspace] = {}
        self.members: dict[tuple[str, str], Member] = {}
        self.invites: dict[str, dict[str, Any]] = {}
        self.workspace_settings: dict[tuple[str, str], Any] = {}
        self.runtimes: dict[str, Any] = {}
        self.idempotency: dict[str, IdempotencyRecord] = {}
        self.rate_limits: dict[str, RateLimitHit] = {}
        # Columns the SQL tables have and the records above do not carry, kept so a snapshot loses nothing:
        self.rate_limit_windows: dict[str, datetime] = {}  # rate_limits.window_start
        self.user_settings_updated_at: dict[tuple[str, str], datetime] = {}
        self.token_ids: dict[str, str] = {}  # verification_tokens.id by "<kind>:<hash>"
        # Tables no memory store reads or writes, kept as plain rows (backends.memory.snapshot).
        self.plain_tables: dict[str, dict[tuple[Any, ...], dict[str, Any]]] = {}


class MemoryUserStore:
    def __init__(self, state: MemoryState, clock: Clock, metering: MemoryMeteringStore) -> None:
        self.s = state
        self.clock = clock
        self.metering = metering

    def _email_taken(self, email: str, except_id: str | None = None) -> bool:
        return any(u.email == email and u.id != except_id for u in self.s.users.values())

    async def create_user(self, *, email: str, name: str = "", image: str | None = None,
                          email_verified: bool = False, password_hash: str | None = None) -> User:
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
            return user

    async def get_user(self, user_id: str) -> User | None:
        return self.s.users.get(user_id)

    async def get_user_by_email(self, email: str) -> User | None:
        email = normalize_email(email)
        return next((u for u in self.s.users.values() if u.email == email), None)

    async def update_user(self, user_id: str, *, name: str | None = None, image: str | None = None,
                          email: str | None = None, email_verified: bool | None = None,
                          clear_image: bool = False) -> User | None:
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

    async def set_password_hash(self, user_id: str, password_hash: str) -> None:
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

    async def delete_user_completely(self, user_id: str) -> bool:
        async with self.s.lock:
            if user_id not in self.s.users:
                return False
            self._cascade(user_id)
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
        snapshots.drop_plain_rows(s, "workspace_id", workspace_id)  # ON DELETE CASCADE of the plain tables

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


class MemorySessionStore:
    def __init__(self, state: MemoryState, clock: Clock) -> None:
        self.s = state
        self.clock = clock

    async def create_session(self, *, token_hash: str, user_id: str, expires_at: datetime,
                             ip_address: str | None = None, user_agent: str | None = None,
                             remember: bool = True) -> Session:
        async with self.s.lock:
            if user_id not in self.s.users:
                raise ConstraintViolation("foreign_key", "unknown user")
            if token_hash in self.s.sessions:
                raise ConstraintViolation("unique", "session token exists")
            now = self.clock()
            session = Session(id=new_id(), token_hash=token_hash, user_id=user_id, expires_at=expires_at,
                              created_at=now, updated_at=now, ip_address=ip_address, user_agent=user_agent,
                              remember=remember)
            self.s.sessions[token_hash] = session
            return session

    async def get_session(self, token_hash: str) -> tuple[Session, User] | None:
        session = self.s.sessions.get(token_hash)
        if session is None:
            return None
        user = self.s.users.get(session.user_id)
        return (session, user) if user else None

    async def extend_session(self, session_id: str, expires_at: datetime) -> None:
        async with self.s.lock:
            for key, session in self.s.sessions.items():
                if session.id == session_id:
                    self.s.sessions[key] = replace(session, expires_at=expires_at, updated_at=self.clock())
                    return

    async def list_sessions(self, user_id: str) -> list[Session]:
        return sorted((s for s in self.s.sessions.values() if s.user_id == user_id),
                      key=lambda s: (s.created_at, s.id))

    async def delete_session(self, token_hash: str) -> bool:
        async with self.s.lock:
            return self.s.sessions.pop(token_hash, None) is not None

    async def delete_user_sessions(self, user_id: str, *, except_token_hash: str | None = None) -> int:
        async with self.s.lock:
            doomed = [k for k, s in self.s.sessions.items() if s.user_id == user_id and k != except_token_hash]
            for key in doomed:
                del self.s.sessions[key]
            return len(doomed)

    async def delete_expired_sessions(self, now: datetime) -> int:
        async with self.s.lock:
            doomed = [k for k, s in self.s.sessions.items() if s.expires_at <= now]
            for key in doomed:
                del self.s.sessions[key]
            return len(doomed)


class MemoryTokenStore:
    def __init__(self, state: MemoryState, clock: Clock) -> None:
        self.s = state
        self.clock = clock

    async def put_token(self, *, kind: str, token_hash: str, data: dict[str, Any],
                        expires_at: datetime) -> OneTimeToken:
        async with self.s.lock:
            key = f"{kind}:{token_hash}"
            if key in self.s.tokens:
                raise ConstraintViolation("unique", "token exists")
            token = OneTimeToken(kind=kind, token_hash=token_hash, data=copy.deepcopy(data),
                                 expires_at=expires_at, created_at=self.clock())
            self.s.tokens[key] = token
            self.s.token_ids[key] = new_id()
            return replace(token, data=copy.deepcopy(token.data))

    async def get_token(self, kind: str, token_hash: str) -> OneTimeToken | None:
        token = self.s.tokens.get(f"{kind}:{token_hash}")
        return replace(token, data=copy.deepcopy(token.data)) if token else None

    async def consume_token(self, kind: str, token_hash: str) -> OneTimeToken | None:
        async with self.s.lock:
            token = self.s.tokens.pop(f"{kind}:{token_hash}", None)
            self.s.token_ids.pop(f"{kind}:{token_hash}", None)
            return replace(token, data=copy.deepcopy(token.data)) if token else None

    async def delete_tokens_for_user(self, user_id: str, *, kind: str | None = None) -> int:
        async with self.s.lock:
            doomed = [k for k, t in self.s.tokens.items()
                      if t.data.get("userId") == user_id and (kind is None or t.kind == kind)]
            for key in doomed:
                del self.s.tokens[key]
                self.s.token_ids.pop(key, None)
            return len(doomed)

    async def delete_expired_tokens(self, now: datetime) -> int:
        async with self.s.lock:
            doomed = [k for k, t in self.s.tokens.items() if t.expires_at <= now]
            for key in doomed:
                del self.s.tokens[key]
                self.s.token_ids.pop(key, None)
            return len(doomed)


class MemoryIdempotencyStore:
    def __init__(self, state: MemoryState, clock: Clock) -> None:
        self.s = state
        self.clock = clock

    async def claim(self, key: str, *, now: datetime, ttl_seconds: int = 86400) -> IdempotencyRecord | None:
        async with self.s.lock:
            existing = self.s.idempotency.get(key)
            if existing is not None and existing.created_at >= now - timedelta(seconds=ttl_seconds):
                return existing
            self.s.idempotency[key] = IdempotencyRecord(key, "pending", None, None, now)
            return None

    async def complete(self, key: str, *, status: int, body: Any) -> None:
        async with self.s.lock:
            existing = self.s.idempotency.get(key)
            if existing is not None:
                self.s.idempotency[key] = replace(existing, status="done", response_status=status,
                                                  response_body=copy.deepcopy(body))

    async def release(self, key: str) -> None:
        async with self.s.lock:
            existing = self.s.idempotency.get(key)
            if existing is not None and existing.status == "pending":
                del self.s.idempotency[key]

    async def sweep(self, older_than: datetime) -> int:
        async with self.s.lock:
            doomed = [k for k, r in self.s.idempotency.items() if r.created_at < older_than]
            for key in doomed:
                del self.s.idempotency[key]
            return len(doomed)


class MemoryRateLimitStore:
    def __init__(self, state: MemoryState, clock: Clock) -> None:
        self.s = state
        self.clock = clock

    async def hit(self, key: str, *, window_seconds: float, now: datetime) -> RateLimitHit:
        async with self.s.lock:
            current = self.s.rate_limits.get(key)
            if current is None or current.reset_at <= now:
                current = RateLimitHit(count=1, reset_at=now + timedelta(seconds=window_seconds))
                self.s.rate_limit_windows[key] = now
            else:
                current = RateLimitHit(count=current.count + 1, reset_at=current.reset_at)
            self.s.rate_limits[key] = current
            return current

    async def release(self, key: str, hit: RateLimitHit) -> None:
        async with self.s.lock:
            current = self.s.rate_limits.get(key)
            if current is not None and current.reset_at == hit.reset_at and current.count > 0:
                self.s.rate_limits[key] = RateLimitHit(count=current.count - 1, reset_at=current.reset_at)


class MemoryBackend:
    kind = "memory"

    def __init__(self, clock: Clock | None = None, *, ledger_vocabulary: LedgerVocabulary | None = None) -> None:
        self.clock = clock or system_clock
        self.state = MemoryState()
        self.metering = MemoryMeteringStore(self.clock, ledger_vocabulary)
        self.users = MemoryUserStore(self.state, self.clock, self.metering)
        self.sessions = MemorySessionStore(self.state, self.clock)
        self.tokens = MemoryTokenStore(self.state, self.clock)
        self.workspaces = MemoryWorkspaceStore(self.state, self.clock)
        self.idempotency = MemoryIdempotencyStore(self.state, self.clock)
        self.rate_limits = MemoryRateLimitStore(self.state, self.clock)
        self.closed = False

    async def ping(self) -> None:
        if self.closed:
            raise RuntimeError("backend is closed")

    async def schema_version(self) -> int:
        return 0

    def snapshot(self) -> AbstractAsyncContextManager[snapshots.MemorySnapshot]:
        """``SnapshotSource``: every dict at one moment (``backends.memory.snapshot``)."""
        return snapshots.memory_snapshot(self)

    def restore(self) -> AbstractAsyncContextManager[snapshots.MemorySnapshotWriter]:
        """``SnapshotSink``: load into a fresh state, swapped in when the block ends normally."""
        return snapshots.memory_restore(self, MemoryState())

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> MemoryBackend:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
