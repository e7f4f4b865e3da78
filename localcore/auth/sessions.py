"""Sessions: issue, resolve, slide (no HTTP here; ``cookies.py`` carries them to the browser).

A session is an opaque random token held only by the client; the backend keeps its SHA-256. Rules
(better-auth's defaults, as boring-core configures them):

- lifetime ``SESSION_TTL_SECONDS`` (30 days); ``rememberMe: false`` gives a one-day session (never longer
  than the TTL) that is never refreshed, carried in a browser-session cookie. The choice is stored on the
  session row, so a client that drops the ``dont_remember`` cookie cannot turn it into a 30-day one;
- sliding refresh at most once a day: when a remembered session is read and it was issued or last
  refreshed more than a day ago, its expiry moves to now + TTL and the cookie is re-issued;
- an expired session reads as signed out and its row is removed on sight;
- the session+user read goes through the identity cache (``identity_cache.py``), which never answers
  with a row older than the backend's identity version, so a sign-out or revocation takes effect at once
  on every process that shares the backend; the rules above are applied to the cached row exactly as to
  a row just read.
"""

from __future__ import annotations

from dataclasses import dataclass, replace
from datetime import timedelta

from localcore.auth.identity_cache import CacheView, IdentityCache
from localcore.auth.tokens import hash_token, new_token
from localcore.clock import Clock
from localcore.contract.audit import AuditRecord
from localcore.store import Session, SessionStore, User

UPDATE_AGE_SECONDS = 86_400
SHORT_SESSION_SECONDS = 86_400


@dataclass(frozen=True, slots=True)
class IssuedSession:
    """A new session: the raw ``token`` goes to the client once and is never stored."""

    token: str
    session: Session
    remember: bool


@dataclass(frozen=True, slots=True)
class ResolvedSession:
    session: Session
    user: User
    token_hash: str
    refreshed: bool


@dataclass(frozen=True, slots=True)
class Resolution:
    """What a presented token turned out to be. ``stale``: the client holds a dead token (unknown or
    expired) and its cookie should be cleared."""

    found: ResolvedSession | None
    stale: bool = False


class SessionManager:
    def __init__(self, store: SessionStore, clock: Clock, ttl_seconds: int,
                 update_age_seconds: int = UPDATE_AGE_SECONDS, *, cache: IdentityCache | None = None) -> None:
        self.store = store
        self.cache = cache
        self.clock = clock
        self.ttl = timedelta(seconds=ttl_seconds)
        self.update_age = timedelta(seconds=update_age_seconds)

    def lifetime(self, remember: bool) -> timedelta:
        return self.ttl if remember else min(self.ttl, timedelta(seconds=SHORT_SESSION_SECONDS))

    async def issue(self, user_id: str, *, remember: bool = True, ip_address: str | None = None,
                    user_agent: str | None = None, audit: AuditRecord | None = None) -> IssuedSession:
        token = new_token()
        session = await self.store.create_session(
            token_hash=hash_token(token), user_id=user_id, expires_at=self.clock() + self.lifetime(remember),
            ip_address=ip_address, user_agent=(user_agent or None) and user_agent[:512], remember=remember, audit=audit)
        return IssuedSession(token=token, session=session, remember=remember)

    async def view(self) -> CacheView | None:
        """The identity cache as of now (None without a cache): pass it to ``resolve`` and the request's
        other identity lookups, so one version read serves them all."""
        return await self.cache.view() if self.cache is not None else None

    async def resolve(self, token: str, *, allow_refresh: bool = True, view: CacheView | None = None) -> Resolution:
        token_hash = hash_token(token)
        view = view or await self.view()
        if view is None:
            found = await self.store.get_session(token_hash)
        else:
            found = await view.get_or_load(("session", token_hash), lambda: self.store.get_session(token_hash))
        if found is None:
            return Resolution(None, stale=True)
        session, user = found
        now = self.clock()
        if session.expires_at <= now:
            await self.store.delete_session(token_hash)
            return Resolution(None, stale=True)
        refreshed = False
        if session.remember and allow_refresh and session.expires_at - self.ttl + self.update_age <= now:
            expires_at = now + self.ttl
            await self.store.extend_session(session.id, expires_at)
            session = replace(session, expires_at=expires_at, updated_at=now)
            refreshed = True
        return Resolution(ResolvedSession(session, user, token_hash, refreshed))

    async def revoke(self, token_hash: str, *, audit: AuditRecord | None = None) -> bool:
        return await self.store.delete_session(token_hash, audit=audit)

    async def revoke_all(self, user_id: str, *, keep_token_hash: str | None = None,
                         audit: AuditRecord | None = None) -> int:
        return await self.store.delete_user_sessions(user_id, except_token_hash=keep_token_hash, audit=audit)

    async def active(self, user_id: str) -> list[Session]:
        now = self.clock()
        return [s for s in await self.store.list_sessions(user_id) if s.expires_at > now]
