"""Building audit records in the services: ``audit_record`` with the request's client filled in.

The services stay free of aiohttp and their signatures unchanged: the HTTP layer's guard
(``localcore.audit.http.request_context_guard``) puts a source of the request's facts (client IP, user
agent, request id) in a ``ContextVar`` before the handler runs. aiohttp runs every request in its own
task, and a task copies the context, so what one request sets is never seen by another. Outside a request
(the CLI, background sweeps) the facts are None.
"""

from __future__ import annotations

from collections.abc import Callable
from contextvars import ContextVar
from dataclasses import dataclass
from typing import Any

from localcore.contract.audit import AuditRecord

#: Longest user agent kept on an event (a header can be kilobytes).
MAX_USER_AGENT = 512


@dataclass(frozen=True, slots=True)
class RequestFacts:
    ip: str | None
    user_agent: str | None
    request_id: str | None


_NO_REQUEST = RequestFacts(None, None, None)
_CURRENT: ContextVar[Callable[[], RequestFacts] | None] = ContextVar("localcore_audit_request", default=None)


def set_request_facts(source: Callable[[], RequestFacts]) -> None:
    """For the HTTP layer: where this request's facts come from (read lazily, when an event is built)."""
    _CURRENT.set(source)


def request_facts() -> RequestFacts:
    source = _CURRENT.get()
    return source() if source is not None else _NO_REQUEST


def audit_record(action: str, *, actor_id: str | None, workspace_id: str | None = None,
                 target_type: str | None = None, target_id: str | None = None,
                 details: dict[str, Any] | None = None) -> AuditRecord:
    """An event for a store write (``audit=``), stamped with the current request's client. ``details``
    must hold no secret: a setting's key but never its value, no token, password or hash."""
    facts = request_facts()
    agent = facts.user_agent[:MAX_USER_AGENT] if facts.user_agent else None
    return AuditRecord(action=action, actor_id=actor_id, workspace_id=workspace_id, target_type=target_type,
                       target_id=target_id, details=dict(details or {}), ip=facts.ip, user_agent=agent,
                       request_id=facts.request_id)


_SELF = "self"


def user_event(action: str, user_id: str, *, actor_id: str | None = _SELF,
               details: dict[str, Any] | None = None) -> AuditRecord:
    """An event about a user's own account (target: the user); the actor is the user unless given
    (None: the system, or nobody known, as for a failed sign-in)."""
    return audit_record(action, actor_id=user_id if actor_id == _SELF else actor_id, target_type="user",
                        target_id=user_id, details=details)
