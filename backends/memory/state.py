"""The memory backend's shared state: plain dicts guarded by one ``asyncio.Lock``, and the audit log."""

from __future__ import annotations

import asyncio
from datetime import datetime
from typing import Any

from backends.memory.audit import MemoryAuditStore
from localcore.contract.clock import Clock
from localcore.contract.idempotency import IdempotencyRecord
from localcore.contract.ratelimits import RateLimitHit
from localcore.contract.sessions import OneTimeToken, Session
from localcore.contract.users import Account, User, UserSettings
from localcore.contract.workspaces import Member, Workspace


class WriteLock(asyncio.Lock):
    """The state's lock; every release counts as a write (the backend's ``identity_version``): one
    process, so invalidating on every write is exact enough and cannot miss one. An import keeps the
    lock object (``backends.memory.snapshot``), so the count never goes back."""

    def __init__(self) -> None:
        super().__init__()
        self.writes = 0

    def release(self) -> None:
        self.writes += 1
        super().release()


class MemoryState:
    def __init__(self, clock: Clock) -> None:
        self.lock = WriteLock()
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
        #: The audit log every store writes to in the same step as the change.
        self.audit = MemoryAuditStore(clock)

    def drop_plain_rows(self, column: str, value: Any) -> None:
        """Delete the plain tables' rows whose ``column`` is ``value`` (a parent row went: their
        ``ON DELETE CASCADE``). The caller holds the lock."""
        for rows in self.plain_tables.values():
            for key in [k for k, row in rows.items() if row.get(column) == value]:
                del rows[key]
