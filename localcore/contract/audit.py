"""The audit log: its records and ``AuditStore`` (``backend.audit``).

The same-transaction rule: every store method that makes an audited change (users, sessions,
workspaces, members, invites, settings, runtime, ledger grants, purchases and refunds) takes an optional
keyword ``audit: AuditRecord | None``. When given, the backend writes the event inside the change's own
transaction (SQL) or in the same synchronous step as the change (memory): a change never commits without
its event, and a change that fails or is rolled back leaves no event. A method that ends up changing
nothing (a replayed grant, a revoke of an unknown invite, a delete of a missing setting) writes no event.

Some facts exist only once the store has written the change (a new workspace's id, a refund's amount).
Such a method *completes* the record with them (``AuditRecord.completed``: only fields still empty are
filled, ``details`` are merged); its Protocol docstring says which. ``details`` is small JSON with no
secret in it (old/new role, a setting's KEY, an amount); the services that build records guarantee that.

Events are listed newest first in the total order (``created_at``, ``id``), both descending; a cursor is
the (``created_at``, ``id``) of the last event of a page, and the next page holds the events strictly
after it in that order, so paging has no gaps or repeats however many events are written meanwhile
(they are newer than the cursor).
"""

from __future__ import annotations

from dataclasses import dataclass, field, replace
from datetime import datetime
from typing import Any, Protocol

#: Every action the core writes. Plugins may write their own (``AuditStore.append``).
ACTIONS: tuple[str, ...] = (
    "workspace.create", "workspace.update", "workspace.delete", "member.add", "member.role_change",
    "member.remove", "invite.create", "invite.revoke", "invite.accept", "settings.update", "settings.delete",
    "runtime.retry", "auth.sign_up", "auth.sign_in", "auth.sign_in_failed", "auth.sign_out",
    "auth.password_change", "auth.password_reset", "auth.email_verify", "auth.session_revoke",
    "account.delete", "credits.grant", "credits.purchase", "credits.refund",
)
MAX_PAGE = 200
#: A position in the (created_at, id) order: the last event of the previous page.
AuditCursor = tuple[datetime, str]


@dataclass(frozen=True, slots=True)
class AuditRecord:
    """An event to write: what happened, who did it (None: the system), to what, and the request's
    client (ip, user agent, request id; None outside a request)."""

    action: str
    actor_id: str | None = None
    workspace_id: str | None = None
    target_type: str | None = None
    target_id: str | None = None
    details: dict[str, Any] = field(default_factory=dict)
    ip: str | None = None
    user_agent: str | None = None
    request_id: str | None = None

    def completed(self, *, details: dict[str, Any] | None = None, **fields: str | None) -> AuditRecord:
        """This record with the empty ones of ``fields`` filled (a given value wins) and ``details``
        merged under the given ones."""
        fill: dict[str, Any] = {k: v for k, v in fields.items() if getattr(self, k) is None}
        fill["details"] = {**(details or {}), **self.details}
        return replace(self, **fill)


@dataclass(frozen=True, slots=True)
class AuditEvent:
    """A stored event: the record plus its id and the backend clock's time."""

    id: str
    action: str
    actor_id: str | None
    workspace_id: str | None
    target_type: str | None
    target_id: str | None
    details: dict[str, Any]
    ip: str | None
    user_agent: str | None
    request_id: str | None
    created_at: datetime

    @property
    def cursor(self) -> AuditCursor:
        return (self.created_at, self.id)


def event_of(record: AuditRecord, *, event_id: str, created_at: datetime) -> AuditEvent:
    return AuditEvent(id=event_id, action=record.action, actor_id=record.actor_id,
                      workspace_id=record.workspace_id, target_type=record.target_type,
                      target_id=record.target_id, details=dict(record.details), ip=record.ip,
                      user_agent=record.user_agent, request_id=record.request_id, created_at=created_at)


def check_limit(limit: int, cap: int | None = MAX_PAGE) -> int:
    """The page-size rule every store applies: an integer in 1..``cap`` (no cap: >= 1), else ValueError."""
    if isinstance(limit, bool) or not isinstance(limit, int) or limit < 1 or (cap is not None and limit > cap):
        raise ValueError(f"limit must be an integer in 1..{cap}")
    return limit


def is_user_activity(event: AuditEvent, user_id: str) -> bool:
    """The one rule for "a user's activity": they were the actor, or the target user."""
    return event.actor_id == user_id or (event.target_type == "user" and event.target_id == user_id)


def is_personal(event: AuditEvent, user_id: str) -> bool:
    """What an account deletion removes: the user's activity outside any workspace (their auth and
    credits events). Workspace events stay, with their ``actor_id``."""
    return event.workspace_id is None and is_user_activity(event, user_id)


class AuditStore(Protocol):
    async def append(self, record: AuditRecord) -> AuditEvent:
        """Write an event that goes with no change of its own (a failed sign-in); for a change, pass the
        record to the change's store method instead (the same-transaction rule)."""

    async def list_for_workspace(self, workspace_id: str, *, limit: int,
                                 before: AuditCursor | None = None) -> list[AuditEvent]:
        """The workspace's events newest first, strictly after ``before`` in that order, at most
        ``limit`` (1..``MAX_PAGE``; anything else raises ``ValueError``)."""

    async def list_for_user(self, user_id: str, *, limit: int,
                            before: AuditCursor | None = None) -> list[AuditEvent]:
        """Events the user was the actor of or the target user of (``is_user_activity``), paged like
        ``list_for_workspace``."""

    async def search(self, *, workspace_id: str | None = None, user_id: str | None = None,
                     action: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[AuditEvent]:
        """Operators' view, newest first: every filter given must match (``user_id`` as in
        ``list_for_user``; ``since`` inclusive); ``limit`` >= 1 (else ``ValueError``)."""

    async def sweep(self, older_than: datetime) -> int:
        """Retention: delete events with ``created_at < older_than``; returns how many went."""
