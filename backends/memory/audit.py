"""The audit log in memory (``backend.audit``).

Stores write their events through ``write``, a synchronous call made in the same step as the change it
records (after every check, with no ``await`` in between), so an event exists exactly when its change
does. ``all_events``, ``insert_events`` and ``replace_events`` give an export or import the raw rows.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable
from datetime import datetime

from localcore.contract.audit import AuditCursor, AuditEvent, AuditRecord, check_limit, event_of, is_personal
from localcore.contract.audit import is_user_activity as _is_user_activity
from localcore.contract.clock import Clock
from localcore.contract.ids import new_id


def _newest_first(event: AuditEvent) -> AuditCursor:
    return event.cursor


class MemoryAuditStore:
    def __init__(self, clock: Clock) -> None:
        self.clock = clock
        self._events: dict[str, AuditEvent] = {}

    # ------------------------------------------------------------------ for the other memory stores

    def write(self, record: AuditRecord | None) -> AuditEvent | None:
        """Record ``record`` now (nothing for None). Synchronous: call it in the change's own step."""
        if record is None:
            return None
        event = event_of(record, event_id=new_id(), created_at=self.clock())
        self._events[event.id] = event
        return event

    def delete_personal(self, user_id: str) -> None:
        """``audit.is_personal``: the user's activity outside any workspace (account deletion)."""
        for event_id in [e.id for e in self._events.values() if is_personal(e, user_id)]:
            del self._events[event_id]

    # ------------------------------------------------------------------ raw rows (export / import)

    def all_events(self) -> list[AuditEvent]:
        """Every event, oldest first."""
        return sorted(self._events.values(), key=_newest_first)

    def insert_events(self, events: Iterable[AuditEvent]) -> None:
        """Store events exactly as given (ids and times kept)."""
        for event in events:
            self._events[event.id] = event

    def replace_events(self, events: Iterable[AuditEvent]) -> None:
        """Hold exactly ``events`` (ids and times kept), in one synchronous step: an import's swap, which
        keeps this store object (the backend and its ledger hold it)."""
        self._events = {event.id: event for event in events}

    # ------------------------------------------------------------------ AuditStore

    async def append(self, record: AuditRecord) -> AuditEvent:
        event = self.write(record)
        assert event is not None
        return event

    def _select(self, keep: Callable[[AuditEvent], bool], limit: int,
                before: AuditCursor | None) -> list[AuditEvent]:
        chosen = [e for e in self._events.values() if keep(e) and (before is None or e.cursor < before)]
        chosen.sort(key=_newest_first, reverse=True)
        return chosen[:limit]

    async def list_for_workspace(self, workspace_id: str, *, limit: int,
                                 before: AuditCursor | None = None) -> list[AuditEvent]:
        return self._select(lambda e: e.workspace_id == workspace_id, check_limit(limit), before)

    async def list_for_user(self, user_id: str, *, limit: int,
                            before: AuditCursor | None = None) -> list[AuditEvent]:
        return self._select(lambda e: _is_user_activity(e, user_id), check_limit(limit), before)

    async def search(self, *, workspace_id: str | None = None, user_id: str | None = None,
                     action: str | None = None, since: datetime | None = None,
                     limit: int = 100) -> list[AuditEvent]:
        def keep(e: AuditEvent) -> bool:
            return ((workspace_id is None or e.workspace_id == workspace_id)
                    and (user_id is None or _is_user_activity(e, user_id))
                    and (action is None or e.action == action)
                    and (since is None or e.created_at >= since))

        return self._select(keep, check_limit(limit, cap=None), None)

    async def sweep(self, older_than: datetime) -> int:
        doomed = [e.id for e in self._events.values() if e.created_at < older_than]
        for event_id in doomed:
            del self._events[event_id]
        return len(doomed)
