"""Who is calling: the session behind the request's cookie, resolved lazily and at most once.

The auth feature installs the resolver (``SESSION_RESOLVER``); until then every request is anonymous.
``/api/v1/*`` requires a user except the public paths (``/api/v1/config``), like upstream's auth hook.
"""

from __future__ import annotations

import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from localcore.errors import Unauthorized
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
PUBLIC_API = (re.compile(r"^/api/v1/config$"),)


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


def forget_identity(request: web.Request) -> None:
    """After sign-in/out inside a request, make the next lookup resolve again."""
    request[_RESOLVED] = False
    request[_IDENTITY] = None


async def auth_gate(request: web.Request) -> None:
    """Guard: ``/api/v1/*`` needs a session, except the public paths."""
    path = request.path
    if path.startswith("/api/v1/") and not any(p.match(path) for p in PUBLIC_API):
        await require_identity(request)
