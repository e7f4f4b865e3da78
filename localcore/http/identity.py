"""Who is calling: the session behind the request's cookie, resolved lazily and at most once.

The auth feature installs the resolver (``SESSION_RESOLVER``); until then every request is anonymous.
The auth gate asks for a user on the route families that declare ``needs_session`` (except their public
paths), like upstream's auth hook.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from localcore.errors import Unauthorized
from localcore.http.families import family_of
from localcore.store import Session, User


@dataclass(frozen=True, slots=True)
class Identity:
    user: User
    session: Session
    token_hash: str


Resolver = Callable[[web.Request], Awaitable[Identity | None]]
SESSION_RESOLVER: web.AppKey[Resolver] = web.AppKey("session_resolver")
_IDENTITY: web.RequestKey[Identity | None] = web.RequestKey("identity")
_RESOLVED = web.RequestKey("identity_resolved", bool)


async def current_identity(request: web.Request) -> Identity | None:
    if request.get(_RESOLVED):
        return request.get(_IDENTITY)
    resolver = request.config_dict.get(SESSION_RESOLVER)
    identity = await resolver(request) if resolver is not None else None
    request[_IDENTITY] = identity
    request[_RESOLVED] = True
    return identity


async def current_user(request: web.Request) -> User | None:
    identity = await current_identity(request)
    return identity.user if identity else None


async def require_identity(request: web.Request) -> Identity:
    identity = await current_identity(request)
    if identity is None:
        raise Unauthorized()
    return identity


def resolved_user_id(request: web.BaseRequest) -> str | None:
    """The caller's user id if this request already resolved its session (logging only: never resolves)."""
    identity = request.get(_IDENTITY) if request.get(_RESOLVED) else None
    return identity.user.id if identity is not None else None


def forget_identity(request: web.Request) -> None:
    """After sign-in/out inside a request, make the next lookup resolve again."""
    request[_RESOLVED] = False
    request[_IDENTITY] = None


async def auth_gate(request: web.Request) -> None:
    """Guard: a family with ``needs_session`` answers 401 to a caller without a session, except on its
    public paths."""
    family = family_of(request)
    if family.needs_session and request.path not in family.public:
        await require_identity(request)
