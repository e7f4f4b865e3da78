"""The audit routes' query and response models (they also make the OpenAPI document)."""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, Field

from localcore.contract.audit import MAX_PAGE

DEFAULT_PAGE = 50


class AuditQuery(BaseModel):
    """``limit`` 1..200 (default 50); ``before``: the ``nextCursor`` of the previous page."""

    model_config = ConfigDict(frozen=True)

    limit: int = Field(default=DEFAULT_PAGE, ge=1, le=MAX_PAGE)
    before: str | None = Field(default=None, min_length=1, max_length=200)


class AuditEventOut(BaseModel):
    """One event. ``actorId`` is null for the system; ``actorEmail`` is the actor's current address, null
    when the actor is the system or a deleted account (then ``actorDeleted`` is true and ``actorId`` is
    kept). ``details`` never holds a setting value, token, password or secret."""

    model_config = ConfigDict(frozen=True)

    id: str
    action: str
    actorId: str | None
    actorEmail: str | None
    actorDeleted: bool
    workspaceId: str | None
    targetType: str | None
    targetId: str | None
    details: dict[str, Any]
    ip: str | None
    userAgent: str | None
    requestId: str | None
    createdAt: str


class AuditPageOut(BaseModel):
    """Newest first; ``nextCursor`` (null on the last page) is passed back as ``before``."""

    model_config = ConfigDict(frozen=True)

    events: list[AuditEventOut]
    nextCursor: str | None
