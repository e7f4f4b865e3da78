"""Reading the audit log: pages of a workspace's or a user's events, with the actors named.

Who may read what is decided by the routes (the workspace owner guard; the caller for their own
activity); this service pages and shapes. An actor whose account was deleted keeps ``actorId`` and is
shown with ``actorEmail: null, actorDeleted: true``.
"""

from __future__ import annotations

from dataclasses import dataclass

from localcore.audit.cursor import BadCursor, CursorCodec
from localcore.audit.models import AuditEventOut, AuditPageOut
from localcore.clock import iso
from localcore.contract.audit import AuditCursor, AuditEvent
from localcore.errors import ValidationFailed
from localcore.store import Backend


@dataclass(frozen=True, slots=True)
class Actor:
    email: str | None
    deleted: bool


class AuditService:
    def __init__(self, backend: Backend, cursor_secret: str) -> None:
        self.backend = backend
        self.cursors = CursorCodec(cursor_secret)

    def _before(self, text: str | None) -> AuditCursor | None:
        if text is None:
            return None
        try:
            return self.cursors.decode(text)
        except BadCursor:
            raise ValidationFailed("Invalid cursor") from None

    async def workspace_page(self, workspace_id: str, *, limit: int, before: str | None) -> AuditPageOut:
        events = await self.backend.audit.list_for_workspace(workspace_id, limit=limit, before=self._before(before))
        return await self._page(events, limit)

    async def user_page(self, user_id: str, *, limit: int, before: str | None) -> AuditPageOut:
        events = await self.backend.audit.list_for_user(user_id, limit=limit, before=self._before(before))
        return await self._page(events, limit)

    async def actors(self, events: list[AuditEvent]) -> dict[str, Actor]:
        """Each distinct actor of ``events``: their current email, or deleted."""
        found: dict[str, Actor] = {}
        for actor_id in {e.actor_id for e in events if e.actor_id is not None}:
            user = await self.backend.users.get_user(actor_id)
            found[actor_id] = Actor(user.email, False) if user is not None else Actor(None, True)
        return found

    async def _page(self, events: list[AuditEvent], limit: int) -> AuditPageOut:
        actors = await self.actors(events)
        next_cursor = self.cursors.encode(events[-1].cursor) if len(events) == limit else None
        return AuditPageOut(events=[event_out(e, actors) for e in events], nextCursor=next_cursor)


def event_out(event: AuditEvent, actors: dict[str, Actor]) -> AuditEventOut:
    actor = actors.get(event.actor_id) if event.actor_id is not None else None
    return AuditEventOut(
        id=event.id, action=event.action, actorId=event.actor_id, actorEmail=actor.email if actor else None,
        actorDeleted=actor.deleted if actor else False, workspaceId=event.workspace_id,
        targetType=event.target_type, targetId=event.target_id, details=dict(event.details), ip=event.ip,
        userAgent=event.user_agent, requestId=event.request_id, createdAt=iso(event.created_at) or "")
