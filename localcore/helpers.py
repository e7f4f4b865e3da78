"""Request helpers for code built on localcore (plugin handlers, child apps).

- ``await current_user(request)``: the signed-in :class:`~localcore.store.User`, or None;
- ``await require_user(request)``: the user, or 401 ``unauthorized``;
- ``await require_role(request, workspace_id, min_role)``: the caller's :class:`Membership` of a live
  workspace of this app, with core's guard: 404 ``not_found`` for a malformed or missing workspace, 403
  ``not_member``, 403 ``forbidden`` below ``min_role`` (``viewer`` < ``editor`` < ``owner``);
- typed accessors for what ``create_app`` put on the app, given a request or the app itself:
  ``backend_of``, ``config_of``, ``mailer_of``, ``clock_of``.

Every refusal is raised as core's error, so it is answered in the route family's envelope.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import TYPE_CHECKING

from aiohttp import web

from localcore.appkeys import BACKEND, CLOCK, CONFIG, MAILER, WiringError
from localcore.clock import Clock
from localcore.config import Config
from localcore.errors import NotFound, ValidationFailed
from localcore.http.identity import current_user as _identity_user
from localcore.http.identity import require_identity
from localcore.store import ROLE_LEVEL, Backend, User, Workspace

if TYPE_CHECKING:
    from localcore.mail import Mailer

__all__ = ["Membership", "backend_of", "clock_of", "config_of", "current_user", "mailer_of", "require_role",
           "require_user"]

AppOrRequest = web.Application | web.Request


@dataclass(frozen=True, slots=True)
class Membership:
    """The caller's membership of a workspace, as :func:`require_role` found it."""

    user_id: str
    workspace_id: str
    role: str
    user: User
    workspace: Workspace

    def at_least(self, role: str) -> bool:
        """Whether this membership's role is ``role`` or higher."""
        return ROLE_LEVEL[self.role] >= ROLE_LEVEL[_known_role(role)]


def _known_role(role: str) -> str:
    if role not in ROLE_LEVEL:
        raise ValueError(f"unknown role {role!r} (one of {', '.join(ROLE_LEVEL)})")
    return role


async def current_user(request: web.Request) -> User | None:
    """The signed-in user, or None (resolved once per request)."""
    return await _identity_user(request)


async def require_user(request: web.Request) -> User:
    """The signed-in user; raises 401 ``unauthorized`` without a session."""
    return (await require_identity(request)).user


async def require_role(request: web.Request, workspace_id: str, min_role: str = "viewer") -> Membership:
    """The caller's membership of ``workspace_id`` with at least ``min_role`` (401 signed out; 404 for a
    malformed, missing, deleted or other-app workspace; 403 ``not_member``; 403 ``forbidden``)."""
    _known_role(min_role)
    user = await require_user(request)
    from localcore.auth.cookies import request_cache_view
    from localcore.workspaces import WORKSPACES

    feature = request.config_dict.get(WORKSPACES)
    if feature is None:
        raise WiringError("require_role needs the workspaces feature on the app (create_app sets it up)")
    try:
        access = await feature.workspaces.require_member(workspace_id, user, min_role,
                                                         view=request_cache_view(request))
    except ValidationFailed:  # a malformed id names no workspace
        raise NotFound("Workspace not found") from None
    return Membership(user_id=user.id, workspace_id=access.workspace.id, role=access.role, user=user,
                      workspace=access.workspace)


def _app(target: AppOrRequest) -> web.Application:
    return target.app if isinstance(target, web.Request) else target


def backend_of(target: AppOrRequest) -> Backend:
    """The app's opened :class:`~localcore.store.Backend` (users, workspaces, metering, …)."""
    return _app(target)[BACKEND]


def config_of(target: AppOrRequest) -> Config:
    """The app's validated :class:`~localcore.config.Config`."""
    return _app(target)[CONFIG]


def mailer_of(target: AppOrRequest) -> Mailer:
    """The app's :class:`~localcore.mail.Mailer` (its dev mailbox with console mail)."""
    return _app(target)[MAILER]


def clock_of(target: AppOrRequest) -> Clock:
    """The app's clock: read time through it (not ``datetime.now``), so tests can move it."""
    return _app(target)[CLOCK]
