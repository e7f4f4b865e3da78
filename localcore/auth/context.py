"""What every auth handler needs from the request: its body, its caller, its session cookie."""

from __future__ import annotations

from typing import TypeVar

from aiohttp import web
from pydantic import BaseModel

from localcore.auth.errors import auth_error
from localcore.auth.keys import SESSION_COOKIES
from localcore.auth.service import ClientInfo, SignedIn
from localcore.auth.views import client_info
from localcore.http.identity import Identity, current_identity, forget_identity
from localcore.http.validation import parse_body

M = TypeVar("M", bound=BaseModel)


async def body_of(request: web.Request, model: type[M]) -> M:
    """The body validated by ``model``; schema failures are 400 ``VALIDATION_ERROR`` (better-call's)."""
    return await parse_body(request, model, allow_empty=True, code="VALIDATION_ERROR")


def client_of(request: web.Request) -> ClientInfo:
    ip, agent = client_info(request)
    return ClientInfo(ip_address=ip, user_agent=agent)


def start_session(request: web.Request, signed_in: SignedIn) -> None:
    """Hand the new session to the browser (the cookie is written when the response is prepared)."""
    request.app[SESSION_COOKIES].set(request, signed_in.issued.token, remember=signed_in.issued.remember)
    forget_identity(request)


async def identity_of(request: web.Request) -> Identity:
    """The caller's session, or 401 ``UNAUTHORIZED`` in better-auth's shape."""
    identity = await current_identity(request)
    if identity is None:
        raise auth_error("UNAUTHORIZED")
    return identity
