"""Sessions, one-time tokens, idempotency records and rate-limit counters in memory."""

from __future__ import annotations

import copy
from dataclasses import replace
from datetime import datetime, timedelta
from typing import Any

from backends.memory.state import MemoryState
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation
from localcore.contract.idempotency import IdempotencyRecord
from localcore.contract.ids import new_id
from localcore.contract.ratelimits import RateLimitHit
from localcore.contract.sessions import OneTimeToken, Session
from localcore.contract.users import User


class MemorySessionStore:
    def __init__(self, state: MemoryState, clock: Clock) -> None:
        self.s = state
        self.clock = clock

    async def create_session(self, *, token_hash: str, user_id: str, expires_at: datetime,
                             ip_address: str | None = None, user_agent: str | None = None,
                             remember: bool = True, audit: AuditRecord | None = None) -> Session:
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
            self.s.audit.write(audit)
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

    async def delete_session(self, token_hash: str, *, audit: AuditRecord | None = None) -> bool:
        async with self.s.lock:
            deleted = self.s.sessions.pop(token_hash, None) is not None
            if deleted:
                self.s.audit.write(audit)
            return deleted

    async def delete_user_sessions(self, user_id: str, *, except_token_hash: str | None = None,
                                   audit: AuditRecord | None = None) -> int:
        async with self.s.lock:
            doomed = [k for k, s in self.s.sessions.items() if s.user_id == user_id and k != except_token_hash]
            for key in doomed:
                del self.s.sessions[key]
            if doomed:
                self.s.audit.write(audit and audit.completed(details={"sessions": len(doomed)}))
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
