"""What happens right after a user is created, whichever way (password sign-up, magic link, Google,
desktop bootstrap) — upstream's ``databaseHooks.user.create.after`` (reference/contract.md §6.1 step 4):

1. try the invite named by ``x-invite-token`` (only password sign-up passes one);
2. no invite accepted → the user's "Default workspace" (owner);
3. no invite accepted, ``SEND_WELCOME_EMAIL`` on and mail configured → the Welcome mail (best effort).

Invites belong to the workspaces feature. The seam is :class:`InviteAcceptor`: the default accepts
nothing (a given token is reported as ``invite_not_found``); the workspaces feature installs its own with
``set_invite_acceptor(app, acceptor)``.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Protocol

from localcore.store import ConstraintViolation, User, WorkspaceStore

log = logging.getLogger("localcore.auth")

DEFAULT_WORKSPACE_NAME = "Default workspace"


@dataclass(frozen=True, slots=True)
class InviteOutcome:
    """``accepted``: the user joined the inviting workspace. ``failure``: why a given token was not used
    (``invite_not_found``, ``invite_expired``, ``invite_already_accepted``, ``invite_email_mismatch``);
    sign-up reports it in the ``boring_invite_failed`` cookie."""

    accepted: bool
    failure: str | None = None


class InviteAcceptor(Protocol):
    async def accept_after_signup(self, user: User, invite_token: str) -> InviteOutcome:
        """Accept the invite behind ``invite_token`` for the new ``user``; never raises for a bad token."""


class NoInvites:
    """Until the workspaces feature is installed: no invite can be accepted."""

    async def accept_after_signup(self, user: User, invite_token: str) -> InviteOutcome:
        return InviteOutcome(accepted=False, failure="invite_not_found")


async def ensure_default_workspace(workspaces: WorkspaceStore, user: User, app_id: str) -> None:
    """Create the user's default workspace unless one exists (another request may win the race: the
    partial unique index refuses the second, and that is success too)."""
    try:
        await workspaces.create_workspace(user_id=user.id, name=DEFAULT_WORKSPACE_NAME, app_id=app_id,
                                          is_default=True)
    except ConstraintViolation as exc:
        if exc.kind != "unique":
            raise
        existing = await workspaces.list_workspaces(user.id, app_id)
        log.debug("default workspace already existed for user %s (%d listed)", user.id, len(existing))
