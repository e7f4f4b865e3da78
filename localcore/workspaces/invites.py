"""The invite lifecycle, with upstream's defects fixed (docs/compatibility.md, "Invites" and fixes 2 to 7).

- Creation mails ``<BETTER_AUTH_URL>/invites/<token>`` — the shell page, not the POST-only API (fix 2);
  with mail off the answer carries that ``acceptUrl`` and ``warning: "mail_disabled"`` (fix 3);
  ``features.invites_enabled = false`` refuses creation with 403 ``invites_disabled`` (fix 4).
- Raw tokens exist only in the mail/``acceptUrl``: never stored, never logged. Lookups hash first.
- The three token routes follow upstream's check orders and failed-attempt counting
  (docs/compatibility.md, "Invites"); "already accepted" is 410 on both accept routes (fix 7). An invite
  whose workspace is gone, soft-deleted or of another app is "not found" everywhere.
- Accepting never lowers an existing member's role, so it can never bypass the last-owner rule (fix 6);
  the store enforces that inside its transaction.
- ``accept_after_signup`` is the auth feature's ``InviteAcceptor`` (sign-up with ``x-invite-token``):
  locked reads as not found, the counter is untouched, and no exception ever escapes into the sign-up.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from localcore.audit import audit_record
from localcore.auth import InviteOutcome
from localcore.clock import Clock
from localcore.config import Config
from localcore.contract.audit import AuditRecord
from localcore.contract.tokens import hash_token
from localcore.errors import Forbidden, HttpError, NotFound
from localcore.mail import Mailer
from localcore.store import (
    AcceptedInvite,
    Backend,
    Invite,
    InviteError,
    Member,
    User,
    Workspace,
    normalize_email,
)
from localcore.workspaces.service import Access

log = logging.getLogger("localcore.workspaces")

_MESSAGES = {
    "invite_not_found": (404, "Invite not found"),
    "invite_expired": (410, "Invite has expired"),
    "invite_already_accepted": (410, "Invite has already been accepted"),
    "invite_email_mismatch": (403, "This invite was sent to a different email address"),
    "invite_locked": (423, "Too many failed attempts for this invite. Try again later."),
}
#: Failures that count towards the lockout, per route (50 counted failures lock an invite for an hour).
_COUNTED_IN_WORKSPACE = frozenset({"invite_expired", "invite_email_mismatch"})
_COUNTED_BY_TOKEN = frozenset({"invite_expired", "invite_email_mismatch", "invite_already_accepted"})


def invite_error(code: str) -> HttpError:
    status, message = _MESSAGES[code]
    return HttpError(status, code, message)


@dataclass(frozen=True, slots=True)
class IssuedInvite:
    invite: Invite
    accept_url: str | None  # only when mail is off: the owner passes the link on


@dataclass(frozen=True, slots=True)
class InvitePreview:
    workspace_name: str
    role: str
    expires_at: datetime


class InviteService:
    def __init__(self, backend: Backend, config: Config, clock: Clock, mailer: Mailer) -> None:
        self.store = backend.workspaces
        self.config = config
        self.clock = clock
        self.mailer = mailer

    # ------------------------------------------------------------------ owner side

    def ensure_enabled(self) -> None:
        if not self.config.features.invites_enabled:
            raise Forbidden("Invites are disabled on this server", code="invites_disabled")

    async def list_invites(self, access: Access) -> list[Invite]:
        return await self.store.list_invites(access.workspace.id)

    async def create(self, access: Access, *, email: str, role: str) -> IssuedInvite:
        self.ensure_enabled()
        ttl_days = self.config.features.invite_ttl_days
        created = await self.store.create_invite(
            access.workspace.id, email=email, role=role, invited_by=access.user.id, ttl_days=ttl_days,
            audit=audit_record("invite.create", actor_id=access.user.id, workspace_id=access.workspace.id,
                               details={"role": role, "email": normalize_email(email)}))
        invite = created.invite
        accept_url = f"{self.config.auth.url}/invites/{created.raw_token}"
        log.info("invite.create workspace=%s invite=%s role=%s by=%s", invite.workspace_id, invite.id, role,
                 access.user.id)
        if not self.mailer.enabled:
            return IssuedInvite(invite, accept_url)
        await self.mailer.send_workspace_invite(
            invite.email, accept_url=accept_url, inviter_name=access.user.name or access.user.email,
            workspace_name=access.workspace.name, role=role, ttl_days=ttl_days)
        return IssuedInvite(invite, None)

    async def revoke(self, access: Access, invite_id: str) -> None:
        revoked = audit_record("invite.revoke", actor_id=access.user.id, workspace_id=access.workspace.id,
                               target_type="invite", target_id=invite_id)
        if not await self.store.revoke_invite(access.workspace.id, invite_id, audit=revoked):
            raise NotFound("Invite not found")
        log.info("invite.revoke workspace=%s invite=%s by=%s", access.workspace.id, invite_id, access.user.id)

    # ------------------------------------------------------------------ invitee side

    async def _find(self, token: str) -> tuple[Invite, Workspace] | None:
        """The invite behind a raw token, with its live workspace of this app."""
        invite = await self.store.get_invite_by_token_hash(hash_token(token))
        if invite is None:
            return None
        workspace = await self.store.get_workspace(invite.workspace_id)
        if workspace is None or workspace.app_id != self.config.app_id:
            return None
        return invite, workspace

    def _locked(self, invite: Invite) -> bool:
        return invite.locked_until is not None and invite.locked_until > self.clock()

    def _expired(self, invite: Invite) -> bool:
        return invite.expires_at <= self.clock()

    async def _fail(self, invite: Invite, code: str, *, counted: bool) -> HttpError:
        if counted:
            await self.store.increment_invite_failed_attempts(invite.id)
        return invite_error(code)

    async def _accept(self, invite: Invite, user: User, counted: frozenset[str]) -> AcceptedInvite:
        try:
            accepted = await self.store.accept_invite(invite.workspace_id, invite.id, user.id,
                                                      audit=_accepted(invite, user))
        except InviteError as exc:
            raise await self._fail(invite, exc.code, counted=exc.code in counted) from None
        await self.store.reset_invite_failed_attempts(invite.id)
        return accepted

    async def accept_in_workspace(self, user: User, workspace_id: str, invite_id: str,
                                  token: str) -> AcceptedInvite:
        """``POST /api/v1/workspaces/:id/invites/:inviteId/accept?invite_token=`` (the token's invite must
        match the path)."""
        found = await self._find(token)
        if found is None or found[0].id != invite_id or found[0].workspace_id != workspace_id:
            raise invite_error("invite_not_found")
        invite = found[0]
        if self._locked(invite):
            raise invite_error("invite_locked")
        if invite.accepted_at is not None:
            raise invite_error("invite_already_accepted")
        if self._expired(invite):
            raise await self._fail(invite, "invite_expired", counted=True)
        accepted = await self._accept(invite, user, _COUNTED_IN_WORKSPACE)
        log.info("invite.accept workspace=%s invite=%s user=%s", invite.workspace_id, invite.id, user.id)
        return accepted

    async def accept_token(self, user: User, token: str) -> tuple[Workspace | None, Member]:
        """``POST /api/v1/invites/accept {token}`` (already accepted is 410 and counted:
        docs/compatibility.md, fix 7)."""
        found = await self._find(token)
        if found is None:
            raise invite_error("invite_not_found")
        invite = found[0]
        if self._locked(invite):
            raise invite_error("invite_locked")
        if invite.accepted_at is not None:
            raise await self._fail(invite, "invite_already_accepted", counted=True)
        if self._expired(invite):
            raise await self._fail(invite, "invite_expired", counted=True)
        accepted = await self._accept(invite, user, _COUNTED_BY_TOKEN)
        log.info("invite.token.accept workspace=%s invite=%s user=%s", invite.workspace_id, invite.id, user.id)
        return await self.store.get_workspace(invite.workspace_id), accepted.member

    async def resolve(self, token: str) -> InvitePreview:
        """``POST /api/v1/invites/resolve {token}``: accepted and expired look like unknown (and are counted)."""
        found = await self._find(token)
        if found is None:
            raise invite_error("invite_not_found")
        invite, workspace = found
        if self._locked(invite):
            raise invite_error("invite_locked")
        if invite.accepted_at is not None or self._expired(invite):
            raise await self._fail(invite, "invite_not_found", counted=True)
        return InvitePreview(workspace.name, invite.role, invite.expires_at)

    async def accept_after_signup(self, user: User, invite_token: str) -> InviteOutcome:
        """The post-sign-up hook (``x-invite-token``): join with the invite role, or report why not."""
        try:
            found = await self._find(invite_token)
            if found is None or self._locked(found[0]):
                return InviteOutcome(accepted=False, failure="invite_not_found")
            invite = found[0]
            if invite.accepted_at is not None:
                return InviteOutcome(accepted=False, failure="invite_already_accepted")
            if self._expired(invite):
                return InviteOutcome(accepted=False, failure="invite_expired")
            if normalize_email(invite.email) != normalize_email(user.email):
                return InviteOutcome(accepted=False, failure="invite_email_mismatch")
            try:
                await self.store.accept_invite(invite.workspace_id, invite.id, user.id,
                                               audit=_accepted(invite, user))
            except InviteError as exc:
                return InviteOutcome(accepted=False, failure=exc.code)
        except Exception:  # a broken invite must never break the sign-up
            log.exception("invite.signup.accept failed for user %s", user.id)
            return InviteOutcome(accepted=False)
        log.info("invite.signup.accept workspace=%s invite=%s user=%s", invite.workspace_id, invite.id, user.id)
        return InviteOutcome(accepted=True)


def _accepted(invite: Invite, user: User) -> AuditRecord:
    return audit_record("invite.accept", actor_id=user.id, workspace_id=invite.workspace_id, target_type="invite",
                        target_id=invite.id)
