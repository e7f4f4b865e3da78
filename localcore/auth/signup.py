"""What happens right after a user is created, whichever way (password sign-up, magic link, Google,
desktop bootstrap) — upstream's post-user-creation hook:

1. try the invite named by ``x-invite-token`` (only password sign-up passes one);
2. no invite accepted → the user's default workspace (owner);
3. no invite accepted, ``SEND_WELCOME_EMAIL`` on and mail configured → the Welcome mail (best effort).

Invites and workspaces belong to the workspaces feature, which plugs into two seams when it is set up
(``setup_workspaces(app, catalog, auth=...)``): :class:`InviteAcceptor` (the default accepts nothing: a
given token is reported as ``invite_not_found``) and :class:`DefaultWorkspace` (the default creates
none). Both are replaceable with ``set_invite_acceptor`` / ``set_default_workspace``.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from localcore.contract.users import User


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


class DefaultWorkspace(Protocol):
    async def ensure_default(self, user: User) -> None:
        """Give the new ``user`` their default workspace unless they have one (idempotent, race-free)."""


class NoDefaultWorkspace:
    """Until the workspaces feature is installed: there are no workspaces to create."""

    async def ensure_default(self, user: User) -> None:
        return None
