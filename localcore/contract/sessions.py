"""Sessions and one-time tokens (verification, reset, magic link, bootstrap, OAuth state), each stored
only under the hash of its token (``localcore.contract.tokens.hash_token``)."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol

from localcore.contract.audit import AuditRecord
from localcore.contract.users import User


@dataclass(frozen=True, slots=True)
class Session:
    id: str
    token_hash: str
    user_id: str
    expires_at: datetime
    created_at: datetime
    updated_at: datetime
    ip_address: str | None
    user_agent: str | None
    #: ``rememberMe`` at sign-in: False = a short session that is never slid forward. Kept on the row, not
    #: in a cookie the client could drop.
    remember: bool = True


@dataclass(frozen=True, slots=True)
class OneTimeToken:
    """A hashed single-use token (email verification, password reset, magic link, bootstrap, OAuth state)."""

    kind: str
    token_hash: str
    data: dict[str, Any]
    expires_at: datetime
    created_at: datetime


class SessionStore(Protocol):
    async def create_session(self, *, token_hash: str, user_id: str, expires_at: datetime,
                             ip_address: str | None = None, user_agent: str | None = None,
                             remember: bool = True, audit: AuditRecord | None = None) -> Session:
        """Store a new session under the SHA-256 of its token (``remember`` is stored with it), with
        ``audit``'s event."""

    async def get_session(self, token_hash: str) -> tuple[Session, User] | None:
        """The session and its user, expired or not (the caller decides); None if unknown."""

    async def extend_session(self, session_id: str, expires_at: datetime) -> None:
        """Sliding refresh: set a new expiry and bump ``updated_at``."""

    async def list_sessions(self, user_id: str) -> list[Session]:
        """Every session of the user, oldest first (expired ones included)."""

    async def delete_session(self, token_hash: str, *, audit: AuditRecord | None = None) -> bool:
        """Delete one session by token hash; False if it did not exist (no event)."""

    async def delete_user_sessions(self, user_id: str, *, except_token_hash: str | None = None,
                                   audit: AuditRecord | None = None) -> int:
        """Delete every session of the user (but the one named); returns how many went. The event is
        written only if some went, completed with ``details.sessions`` = that number."""

    async def delete_expired_sessions(self, now: datetime) -> int:
        """Housekeeping: delete sessions whose ``expires_at <= now``."""


class TokenStore(Protocol):
    async def put_token(self, *, kind: str, token_hash: str, data: dict[str, Any],
                        expires_at: datetime) -> OneTimeToken:
        """Store a one-time token by the hash of its value."""

    async def get_token(self, kind: str, token_hash: str) -> OneTimeToken | None:
        """Look without consuming (used to validate a link before showing a form)."""

    async def consume_token(self, kind: str, token_hash: str) -> OneTimeToken | None:
        """Atomically delete and return the token, expired or not (the caller checks ``expires_at``).
        Of two concurrent consumers exactly one gets it; the other gets None."""

    async def delete_tokens_for_user(self, user_id: str, *, kind: str | None = None) -> int:
        """Delete every token whose ``data["userId"]`` is the user (only those of ``kind`` when given);
        returns how many went."""

    async def delete_expired_tokens(self, now: datetime) -> int:
        """Housekeeping: delete tokens whose ``expires_at <= now``; returns how many went."""
