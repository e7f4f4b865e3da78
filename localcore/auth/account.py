"""Account management for a signed-in user: password, profile, address, sessions. No HTTP here."""

from __future__ import annotations

import logging

from localcore.audit import user_event
from localcore.auth.errors import auth_error
from localcore.auth.passwords import MAX_LENGTH
from localcore.auth.service import CHANGED_EMAIL, AuthService, ClientInfo
from localcore.auth.sessions import IssuedSession
from localcore.auth.tokens import hash_token
from localcore.contract.audit import AuditRecord
from localcore.store import DuplicateEmail, Session, User, is_uuid

log = logging.getLogger("localcore.auth")


class AccountService:
    """What a signed-in user may change about their own account (uses ``AuthService``'s rules)."""

    def __init__(self, auth: AuthService) -> None:
        self.auth = auth

    async def change_password(self, user: User, *, current_password: str, new_password: str,
                              revoke_other_sessions: bool, client: ClientInfo) -> IssuedSession | None:
        """Returns the replacement session when every session was revoked (the caller's included)."""
        self.auth.check_length(new_password)
        credential = await self.auth.backend.users.get_credential(user.id)
        if credential is None or not credential.password_hash:
            raise auth_error("CREDENTIAL_ACCOUNT_NOT_FOUND")
        if len(current_password) > MAX_LENGTH or not (
                await self.auth.hasher.verify(credential.password_hash, current_password)).ok:
            raise auth_error("INVALID_PASSWORD")
        password_hash = await self.auth.hash_new_password(new_password, email=user.email, name=user.name)
        changed = user_event("auth.password_change", user.id,
                             details={"revokeOtherSessions": revoke_other_sessions})
        await self.auth.backend.users.set_password_hash(user.id, password_hash, audit=changed)
        log.info("auth: user %s changed their password", user.id)
        if not revoke_other_sessions:
            return None
        await self.auth.sessions.revoke_all(user.id)
        return await self.auth.sessions.issue(user.id, ip_address=client.ip_address, user_agent=client.user_agent)

    async def set_password(self, user: User, *, new_password: str) -> None:
        """Give a password to an account that has none (Google, magic link or the desktop owner)."""
        self.auth.check_length(new_password)
        credential = await self.auth.backend.users.get_credential(user.id)
        if credential is not None and credential.password_hash:
            raise auth_error("USER_ALREADY_HAS_PASSWORD")
        password_hash = await self.auth.hash_new_password(new_password, email=user.email, name=user.name)
        first = user_event("auth.password_change", user.id, details={"firstPassword": True})
        await self.auth.backend.users.set_password_hash(user.id, password_hash, audit=first)
        log.info("auth: user %s set a password", user.id)

    async def change_email(self, user: User, *, new_email: str, callback_url: str | None) -> None:
        """Change an UNVERIFIED address (a typo at sign-up, the desktop owner's placeholder); the new
        address is unverified and gets a verification link, whose use drops the account's password and
        sessions and signs the prover in (see ``AuthService.verify_email``): otherwise an attacker could
        move an account of theirs onto a victim's address and keep using it once the victim verifies.
        A verified address is refused here: moving it would need a confirmation from the old mailbox,
        which localcore does not implement."""
        self.auth.check_target(callback_url, "INVALID_CALLBACK_URL")
        email = self.auth.check_email(new_email)
        if email == user.email:
            raise auth_error("EMAIL_IS_THE_SAME")
        if user.email_verified:
            raise auth_error("EMAIL_CHANGE_NOT_ALLOWED")
        try:
            updated = await self.auth.backend.users.update_user(user.id, email=email, email_verified=False)
        except DuplicateEmail:
            raise auth_error("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL") from None
        if updated is None:
            raise auth_error("UNAUTHORIZED")
        log.info("auth: user %s changed their email", user.id)
        if self.auth.mailer.enabled:
            data = {"userId": updated.id, "email": updated.email, CHANGED_EMAIL: True}
            self.auth.background(self.auth.send_verification_to(updated, callback_url or "/", data),
                                 "verification mail")

    async def update_user(self, user: User, *, name: str | None, image: str | None, clear_image: bool) -> User:
        updated = await self.auth.backend.users.update_user(user.id, name=name, image=image, clear_image=clear_image)
        if updated is None:
            raise auth_error("UNAUTHORIZED")
        return updated

    async def list_sessions(self, user: User) -> list[Session]:
        return await self.auth.sessions.active(user.id)

    async def revoke_session(self, user: User, token_or_id: str) -> str | None:
        """Revoke one of the user's sessions, named by its token or (the shell's choice) its id. Returns
        the revoked session's token hash, or None when nothing of the user's matched."""
        if is_uuid(token_or_id):
            for session in await self.auth.backend.sessions.list_sessions(user.id):
                if session.id == token_or_id:
                    await self.auth.sessions.revoke(session.token_hash, audit=_revoked(user, session.id))
                    return session.token_hash
            return None
        token_hash = hash_token(token_or_id)
        found = await self.auth.backend.sessions.get_session(token_hash)
        if found is None or found[0].user_id != user.id:
            return None
        await self.auth.sessions.revoke(token_hash, audit=_revoked(user, found[0].id))
        return token_hash

    async def revoke_sessions(self, user: User, *, keep_token_hash: str | None = None) -> int:
        """Revoke every session of the user but the one kept (one ``auth.session_revoke`` event)."""
        return await self.auth.sessions.revoke_all(user.id, keep_token_hash=keep_token_hash,
                                                   audit=_revoked(user, None, all_=keep_token_hash is None))


def _revoked(user: User, session_id: str | None, *, all_: bool = False) -> AuditRecord:
    """``details.sessionId`` names the one session (the row id, never its token); else ``details.scope``
    is ``all`` or ``others``; the store adds ``details.sessions`` (how many went)."""
    details: dict[str, object] = {"sessionId": session_id} if session_id else {"scope": "all" if all_ else "others"}
    return user_event("auth.session_revoke", user.id, details=details)
