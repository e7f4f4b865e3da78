"""The core stores (users, sessions, tokens, workspaces, idempotency, rate limits) written once in SQL.

Both SQL backends run this code over their ``Database`` adapter; the contracts are the docstrings of the
Protocols in ``localcore.contract``.
"""

from __future__ import annotations

import json
from datetime import datetime, timedelta
from typing import Any

from backends.sql.audit import insert_audit
from backends.sql.db import Database, Row, json_column
from backends.sql.users import SqlUserStore as SqlUserStore
from backends.sql.users import _user
from backends.sql.workspaces import SqlWorkspaceStore as SqlWorkspaceStore
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.idempotency import IdempotencyRecord
from localcore.contract.ids import is_uuid, new_id
from localcore.contract.ratelimits import RateLimitHit
from localcore.contract.sessions import OneTimeToken, Session
from localcore.contract.users import User


def _session(row: Row) -> Session:
    return Session(
        id=row["id"], token_hash=row["token_hash"], user_id=row["user_id"], expires_at=row["expires_at"],
        created_at=row["created_at"], updated_at=row["updated_at"], ip_address=row["ip_address"],
        user_agent=row["user_agent"], remember=bool(row["remember"]),
    )


class SqlSessionStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_session(self, *, token_hash: str, user_id: str, expires_at: datetime,
                             ip_address: str | None = None, user_agent: str | None = None,
                             remember: bool = True, audit: AuditRecord | None = None) -> Session:
        now = self.clock()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO sessions (id, token_hash, user_id, expires_at, ip_address, user_agent, "
                "created_at, updated_at, remember) VALUES ($1, $2, $3, $4, $5, $6, $7, $7, $8) RETURNING *",
                new_id(), token_hash, user_id, expires_at, ip_address, user_agent, now, remember)
            await insert_audit(tx, self.clock, audit)
        assert row is not None
        return _session(row)

    async def get_session(self, token_hash: str) -> tuple[Session, User] | None:
        row = await self.db.fetchrow(
            "SELECT s.id, s.token_hash, s.user_id, s.expires_at, s.created_at, s.updated_at, "
            "s.ip_address, s.user_agent, s.remember, u.id AS u_id, u.email AS u_email, u.name AS u_name, "
            "u.email_verified AS u_email_verified, u.image AS u_image, u.created_at AS u_created_at, "
            "u.updated_at AS u_updated_at FROM sessions s JOIN users u ON u.id = s.user_id "
            "WHERE s.token_hash = $1", token_hash)
        if row is None:
            return None
        return _session(row), _user(row, "u_")

    async def extend_session(self, session_id: str, expires_at: datetime) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE sessions SET expires_at = $2, updated_at = $3 WHERE id = $1",
                             session_id, expires_at, self.clock())

    async def list_sessions(self, user_id: str) -> list[Session]:
        if not is_uuid(user_id):
            return []
        rows = await self.db.fetch(
            "SELECT * FROM sessions WHERE user_id = $1 ORDER BY created_at ASC, id ASC", user_id)
        return [_session(r) for r in rows]

    async def delete_session(self, token_hash: str, *, audit: AuditRecord | None = None) -> bool:
        async with self.db.transaction() as tx:
            deleted = await tx.execute("DELETE FROM sessions WHERE token_hash = $1", token_hash) > 0
            if deleted:
                await insert_audit(tx, self.clock, audit)
            return deleted

    async def delete_user_sessions(self, user_id: str, *, except_token_hash: str | None = None,
                                   audit: AuditRecord | None = None) -> int:
        async with self.db.transaction() as tx:
            deleted = await tx.execute(
                "DELETE FROM sessions WHERE user_id = $1 AND token_hash <> $2", user_id,
                except_token_hash or "")
            if deleted:
                await insert_audit(tx, self.clock, audit and audit.completed(details={"sessions": deleted}))
            return deleted

    async def delete_expired_sessions(self, now: datetime) -> int:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM sessions WHERE expires_at <= $1", now)


def _token(row: Row) -> OneTimeToken:
    kind, _, token_hash = str(row["identifier"]).partition(":")
    return OneTimeToken(kind=kind, token_hash=token_hash, data=json.loads(row["value"]),
                        expires_at=row["expires_at"], created_at=row["created_at"])


class SqlTokenStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def put_token(self, *, kind: str, token_hash: str, data: dict[str, Any],
                        expires_at: datetime) -> OneTimeToken:
        now = self.clock()
        user_id = data.get("userId")
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO verification_tokens (id, identifier, value, user_id, expires_at, created_at, "
                "updated_at) VALUES ($1, $2, $3, $4, $5, $6, $6) RETURNING identifier, value, expires_at, "
                "created_at", new_id(), f"{kind}:{token_hash}", json.dumps(data),
                user_id if isinstance(user_id, str) else None, expires_at, now)
        assert row is not None
        return _token(row)

    async def get_token(self, kind: str, token_hash: str) -> OneTimeToken | None:
        row = await self.db.fetchrow(
            "SELECT identifier, value, expires_at, created_at FROM verification_tokens "
            "WHERE identifier = $1", f"{kind}:{token_hash}")
        return _token(row) if row else None

    async def consume_token(self, kind: str, token_hash: str) -> OneTimeToken | None:
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "DELETE FROM verification_tokens WHERE identifier = $1 "
                "RETURNING identifier, value, expires_at, created_at", f"{kind}:{token_hash}")
        return _token(row) if row else None

    async def delete_tokens_for_user(self, user_id: str, *, kind: str | None = None) -> int:
        async with self.db.transaction() as tx:
            if kind is None:
                return await tx.execute("DELETE FROM verification_tokens WHERE user_id = $1", user_id)
            return await tx.execute(
                "DELETE FROM verification_tokens WHERE user_id = $1 "
                "AND substr(identifier, 1, $3) = $2", user_id, f"{kind}:", len(kind) + 1)

    async def delete_expired_tokens(self, now: datetime) -> int:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM verification_tokens WHERE expires_at <= $1", now)


def _idempotency(row: Row) -> IdempotencyRecord:
    body = row["response_body"]
    return IdempotencyRecord(key=row["key"], status=row["status"], response_status=row["response_status"],
                             response_body=json_column(body) if body is not None else None,
                             created_at=row["created_at"])


class SqlIdempotencyStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def claim(self, key: str, *, now: datetime, ttl_seconds: int = 86400) -> IdempotencyRecord | None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM idempotency_keys WHERE key = $1 AND created_at < $2", key,
                             now - timedelta(seconds=ttl_seconds))
            inserted = await tx.execute(
                "INSERT INTO idempotency_keys (key, status, created_at) VALUES ($1, 'pending', $2) "
                "ON CONFLICT (key) DO NOTHING", key, now)
            if inserted:
                return None
            row = await tx.fetchrow("SELECT * FROM idempotency_keys WHERE key = $1", key)
        return _idempotency(row) if row else None

    async def complete(self, key: str, *, status: int, body: Any) -> None:
        payload = body if self.db.dialect == "postgres" else json.dumps(body)
        async with self.db.transaction() as tx:
            await tx.execute(
                "UPDATE idempotency_keys SET status = 'done', response_status = $2, response_body = $3 "
                "WHERE key = $1", key, status, payload)

    async def release(self, key: str) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("DELETE FROM idempotency_keys WHERE key = $1 AND status = 'pending'", key)

    async def sweep(self, older_than: datetime) -> int:
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM idempotency_keys WHERE created_at < $1", older_than)


class SqlRateLimitStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def hit(self, key: str, *, window_seconds: float, now: datetime) -> RateLimitHit:
        reset = now + timedelta(seconds=window_seconds)
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO rate_limits (key, window_start, reset_at, count) VALUES ($1, $2, $3, 1) "
                "ON CONFLICT (key) DO UPDATE SET "
                "count = CASE WHEN rate_limits.reset_at <= $2 THEN 1 ELSE rate_limits.count + 1 END, "
                "window_start = CASE WHEN rate_limits.reset_at <= $2 THEN $2 ELSE rate_limits.window_start END, "
                "reset_at = CASE WHEN rate_limits.reset_at <= $2 THEN $3 ELSE rate_limits.reset_at END "
                "RETURNING count, reset_at", key, now, reset)
        assert row is not None
        return RateLimitHit(count=int(row["count"]), reset_at=row["reset_at"])

    async def release(self, key: str, hit: RateLimitHit) -> None:
        async with self.db.transaction() as tx:
            await tx.execute("UPDATE rate_limits SET count = count - 1 WHERE key = $1 AND reset_at = $2 "
                             "AND count > 0", key, hit.reset_at)
