"""The auth flows of better-auth as boring-core configures them, with upstream's defects fixed. No HTTP here.

Deliberate differences from boring-core 0.1.43:
- verification, reset and magic-link tokens are random, stored only as SHA-256, single-use and live
  exactly as long as the configured TTL the mail states (fixes 10, 12);
- a password reset revokes every session of the user (fix 11);
- when a mailbox proves an address the account had not verified (a magic link, Google, or the
  verification link of an address set by ``change-email``), whatever password and sessions the account had
  were made by someone who never proved they own it — possibly an attacker who pre-registered the
  victim's address — so they are dropped before the prover is signed in (:meth:`AuthService.prove_email`);
- failed sign-ins are limited per account as well as per IP (``signin_limit.py``);
- answers that must not reveal whether an account exists (reset request, verification resend) do the
  account-specific work — token, mail — in the background, so neither the body, the status nor the
  timing differs; sign-in with an unknown email runs a dummy argon2 verification for the same reason.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Coroutine
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from localcore.audit import audit_record, user_event
from localcore.auth.errors import auth_error
from localcore.auth.passwords import MAX_LENGTH, MIN_LENGTH, MIN_SCORE, PasswordHasher
from localcore.auth.sessions import IssuedSession, SessionManager
from localcore.auth.signin_limit import SignInFailureLimit
from localcore.auth.signup import DefaultWorkspace, InviteAcceptor, NoDefaultWorkspace, NoInvites
from localcore.auth.tokens import hash_token, new_token
from localcore.auth.urls import check_target, link
from localcore.clock import Clock
from localcore.config import Config
from localcore.contract.audit import AuditRecord
from localcore.mail import MailDeliveryError, Mailer
from localcore.store import Backend, DuplicateEmail, OneTimeToken, User, is_valid_email, normalize_email

log = logging.getLogger("localcore.auth")

VERIFY_EMAIL = "verify-email"
RESET_PASSWORD = "reset-password"
MAGIC_LINK = "magic-link"
#: Marks the verification token of an address set by ``change-email`` (see ``verify_email``).
CHANGED_EMAIL = "changedEmail"

_NO_USER = "00000000-0000-0000-0000-000000000000"
RESET_MESSAGE = "If this email exists in our system, check your email for the reset link"


@dataclass(frozen=True, slots=True)
class SignedIn:
    """A user now holding a new session."""

    user: User
    issued: IssuedSession
    is_new_user: bool = False
    invite_failure: str | None = None


@dataclass(frozen=True, slots=True)
class ClientInfo:
    ip_address: str | None = None
    user_agent: str | None = None


class AuthService:
    def __init__(self, backend: Backend, config: Config, mailer: Mailer, clock: Clock,
                 hasher: PasswordHasher, sessions: SessionManager) -> None:
        self.backend = backend
        self.config = config
        self.mailer = mailer
        self.clock = clock
        self.hasher = hasher
        self.sessions = sessions
        #: Session+user, per-app settings and (given to the workspaces feature) memberships, cached under
        #: the backend's identity version (``identity_cache.py``).
        self.identity_cache = sessions.cache
        self.invite_acceptor: InviteAcceptor = NoInvites()
        self.default_workspace: DefaultWorkspace = NoDefaultWorkspace()
        self.signin_failures = SignInFailureLimit(backend.rate_limits, clock, config)
        self._tasks: set[asyncio.Task[None]] = set()

    # ------------------------------------------------------------------ plumbing

    @property
    def trusted_origins(self) -> tuple[str, ...]:
        return self.config.trusted_origins

    def check_target(self, url: str | None, code: str) -> str | None:
        return check_target(url, self.trusted_origins, code)

    def background(self, work: Coroutine[Any, Any, None], what: str) -> None:
        """Run ``work`` after the response; failures are logged by kind only (a message could hold a link)."""
        task = asyncio.get_running_loop().create_task(self._guard(work, what))
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)

    @staticmethod
    async def _guard(work: Coroutine[Any, Any, None], what: str) -> None:
        try:
            await work
        except Exception as exc:  # noqa: BLE001 - a background side effect must never crash the loop
            log.warning("auth: %s failed (%s)", what, type(exc).__name__)

    async def drain(self) -> None:
        """Wait for every background side effect (tests; shutdown)."""
        while self._tasks:
            await asyncio.gather(*list(self._tasks), return_exceptions=True)

    async def issue_token(self, kind: str, data: dict[str, Any], ttl_seconds: int) -> str:
        """A new one-time token of ``kind``: the raw value is returned (to be mailed or printed), only
        its hash is stored."""
        token = new_token()
        await self.backend.tokens.put_token(kind=kind, token_hash=hash_token(token), data=data,
                                            expires_at=self.clock() + timedelta(seconds=ttl_seconds))
        return token

    def _expired(self, token: OneTimeToken) -> bool:
        return token.expires_at <= self.clock()

    def check_email(self, email: str) -> str:
        """The normalised address, or 400 ``INVALID_EMAIL``. Checked before lowercasing: the Kelvin sign
        (U+212A) lowercases to an ASCII "k", and the rule is that a non-ASCII address is refused."""
        candidate = email.strip()
        if not is_valid_email(candidate):
            raise auth_error("INVALID_EMAIL")
        return normalize_email(candidate)

    @staticmethod
    def check_length(password: str) -> None:
        if len(password) < MIN_LENGTH:
            raise auth_error("PASSWORD_TOO_SHORT")
        if len(password) > MAX_LENGTH:
            raise auth_error("PASSWORD_TOO_LONG")

    async def hash_new_password(self, password: str, *, email: str, name: str = "") -> str:
        """The strength gate, then argon2id. Runs for every new password (sign-up, reset, change, set)."""
        self.check_length(password)
        inputs = [email, email.split("@", 1)[0], *name.split()]
        if await self.hasher.score(password, inputs) < MIN_SCORE:
            raise auth_error("WEAK_PASSWORD")
        return await self.hasher.hash(password)

    # ------------------------------------------------------------------ user creation

    async def _after_user_created(self, user: User, *, invite_token: str | None = None,
                                  welcome: bool = True) -> str | None:
        """The post-sign-up hook (see ``signup.py``); returns the invite failure code, if any."""
        accepted, failure = False, None
        if invite_token:
            outcome = await self.invite_acceptor.accept_after_signup(user, invite_token)
            accepted, failure = outcome.accepted, outcome.failure
        if not accepted:
            await self.default_workspace.ensure_default(user)
            if welcome and self.config.features.send_welcome_email and self.mailer.enabled:
                self.background(self._send_welcome(user.email), "welcome mail")
        return failure

    async def _send_welcome(self, email: str) -> None:
        await self.mailer.send_welcome(email, get_started_url=f"{self.config.auth.url}/")

    async def create_user(self, *, email: str, name: str, image: str | None = None, email_verified: bool = False,
                          password_hash: str | None = None, invite_token: str | None = None,
                          welcome: bool = True, method: str = "password") -> tuple[User, str | None]:
        """Insert the user (and credential) with its ``auth.sign_up`` event (``details.method`` says how)
        and run the post-sign-up hook. Raises ``DuplicateEmail``."""
        signed_up = audit_record("auth.sign_up", actor_id=None, details={"method": method})
        user = await self.backend.users.create_user(email=email, name=name, image=image,
                                                    email_verified=email_verified, password_hash=password_hash,
                                                    audit=signed_up)
        failure = await self._after_user_created(user, invite_token=invite_token, welcome=welcome)
        return user, failure

    # ------------------------------------------------------------------ email + password

    async def sign_up(self, *, name: str, email: str, password: str, image: str | None, callback_url: str | None,
                      remember: bool, invite_token: str | None, client: ClientInfo) -> SignedIn:
        self.check_target(callback_url, "INVALID_CALLBACK_URL")
        email = self.check_email(email)
        self.check_length(password)
        if await self.backend.users.get_user_by_email(email) is not None:
            raise auth_error("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")
        password_hash = await self.hash_new_password(password, email=email, name=name)
        try:
            user, failure = await self.create_user(email=email, name=name, image=image,
                                                   password_hash=password_hash, invite_token=invite_token)
        except DuplicateEmail:
            raise auth_error("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL") from None
        if self.mailer.enabled:
            self.background(self.send_verification_to(user, callback_url or "/"), "verification mail")
        issued = await self.sessions.issue(user.id, remember=remember, ip_address=client.ip_address,
                                           user_agent=client.user_agent)
        log.info("auth: user %s signed up", user.id)
        return SignedIn(user, issued, is_new_user=True, invite_failure=failure)

    async def sign_in(self, *, email: str, password: str, callback_url: str | None, remember: bool,
                      client: ClientInfo) -> SignedIn:
        self.check_target(callback_url, "INVALID_CALLBACK_URL")
        email = self.check_email(email)
        attempt = await self.signin_failures.begin(email)  # raises RateLimited past the per-account limit
        user = await self.backend.users.get_user_by_email(email)
        # The same queries and the same argon2 work whether or not the account exists (no enumeration).
        credential = await self.backend.users.get_credential(user.id if user else _NO_USER)
        stored = credential.password_hash if credential else None
        if len(password) > MAX_LENGTH:
            raise auth_error("INVALID_EMAIL_OR_PASSWORD")
        result = await self.hasher.verify(stored, password)  # dummy work when there is no hash
        if user is None or not result.ok:
            if user is not None:  # a known account: its owner sees the attempt in their activity
                # Written after the answer, so a known address costs no extra time to refuse.
                self.background(self._append(user_event("auth.sign_in_failed", user.id, actor_id=None)),
                                "audit event")
            log.info("auth: sign-in refused")
            raise auth_error("INVALID_EMAIL_OR_PASSWORD")
        await self.signin_failures.succeeded(attempt)
        if result.needs_rehash:
            await self.backend.users.set_password_hash(user.id, await self.hasher.hash(password))
            log.info("auth: password hash of user %s upgraded to argon2id", user.id)
        issued = await self.sessions.issue(user.id, remember=remember, ip_address=client.ip_address,
                                           user_agent=client.user_agent, audit=self.signed_in(user, "password"))
        log.info("auth: user %s signed in", user.id)
        return SignedIn(user, issued)

    async def _append(self, record: AuditRecord) -> None:
        await self.backend.audit.append(record)

    @staticmethod
    def signed_in(user: User, method: str) -> AuditRecord:
        """The ``auth.sign_in`` event of a new session (``details.method``: password, magic_link, ...)."""
        return user_event("auth.sign_in", user.id, details={"method": method})

    async def sign_out(self, token_hash: str | None, user: User | None = None) -> None:
        if token_hash:
            await self.sessions.revoke(token_hash, audit=user_event("auth.sign_out", user.id) if user else None)

    # ------------------------------------------------------------------ email verification

    async def send_verification_to(self, user: User, callback_url: str,
                                   data: dict[str, Any] | None = None) -> None:
        """Replace the user's verification link with a new one and mail it."""
        await self.backend.tokens.delete_tokens_for_user(user.id, kind=VERIFY_EMAIL)
        ttl = self.config.auth.verification_ttl_seconds
        token = await self.issue_token(VERIFY_EMAIL, data or {"userId": user.id, "email": user.email}, ttl)
        url = link(self.config.auth.url, "/auth/verify-email", token=token, callbackURL=callback_url)
        await self.mailer.send_verify_email(user.email, verify_url=url, ttl_seconds=ttl)

    async def send_verification_email(self, *, email: str, callback_url: str | None,
                                      session_user: User | None) -> None:
        """Resend the verification link. Anonymous callers always get the same answer."""
        if not self.mailer.enabled:
            raise auth_error("VERIFICATION_EMAIL_NOT_ENABLED")
        self.check_target(callback_url, "INVALID_CALLBACK_URL")
        email = self.check_email(email)
        if session_user is not None:
            if email != session_user.email:
                raise auth_error("EMAIL_MISMATCH")
            if session_user.email_verified:
                raise auth_error("EMAIL_ALREADY_VERIFIED")
            self.background(self.send_verification_to(session_user, callback_url or "/"), "verification mail")
            return
        self.background(self._resend_if_unverified(email, callback_url or "/"), "verification mail")

    async def _resend_if_unverified(self, email: str, callback_url: str) -> None:
        user = await self.backend.users.get_user_by_email(email)
        if user is not None and not user.email_verified:
            await self.send_verification_to(user, callback_url)

    async def verify_email(self, token: str, *, client: ClientInfo | None = None) -> SignedIn | None:
        """Consume a verification token; ``TOKEN_EXPIRED``/``INVALID_TOKEN`` (401) otherwise.

        The link of an address set by ``change-email`` proves the mailbox of an account whose sessions
        and password were made before that proof: they are dropped (:meth:`prove_email`) and the prover
        is signed in instead (the returned ``SignedIn``). A sign-up verification only marks the address
        verified (None): its password was chosen together with the address."""
        stored = await self.backend.tokens.consume_token(VERIFY_EMAIL, hash_token(token)) if token else None
        if stored is None:
            raise auth_error("INVALID_TOKEN", status=401)
        if self._expired(stored):
            raise auth_error("TOKEN_EXPIRED")
        user = await self.backend.users.get_user(str(stored.data.get("userId", "")))
        if user is None or user.email != stored.data.get("email"):
            raise auth_error("INVALID_TOKEN", status=401)
        if stored.data.get(CHANGED_EMAIL) and not user.email_verified:
            user = await self.prove_email(user)
            client = client or ClientInfo()
            issued = await self.sessions.issue(user.id, ip_address=client.ip_address, user_agent=client.user_agent,
                                               audit=self.signed_in(user, "email_link"))
            log.info("auth: user %s proved their changed email", user.id)
            return SignedIn(user, issued)
        await self.backend.users.update_user(user.id, email_verified=True, audit=self._verified(user))
        log.info("auth: user %s verified their email", user.id)
        return None

    async def prove_email(self, user: User) -> User:
        """The mailbox of ``user.email`` was just proven (magic link, Google, a changed address's link).
        If the address was not verified yet, the account's password and every session were set up by
        someone who had not proven it — possibly an attacker who pre-registered the victim's address — so
        both go before the prover gets a session. Returns the user, now verified."""
        if user.email_verified:
            return user
        if await self.backend.users.unlink_account(user.id, "credential"):
            log.warning("auth: dropped the password of user %s, set before the address was proven", user.id)
        revoked = await self.sessions.revoke_all(user.id)
        if revoked:
            log.warning("auth: revoked %d session(s) of user %s made before the address was proven",
                        revoked, user.id)
        return await self.backend.users.update_user(user.id, email_verified=True,
                                                    audit=self._verified(user)) or user

    @staticmethod
    def _verified(user: User) -> AuditRecord:
        return user_event("auth.email_verify", user.id)

    # ------------------------------------------------------------------ password reset

    async def request_password_reset(self, *, email: str, redirect_to: str | None) -> None:
        if not self.mailer.enabled:
            raise auth_error("RESET_PASSWORD_DISABLED")
        self.check_target(redirect_to, "INVALID_REDIRECT_URL")
        email = self.check_email(email)
        self.background(self._mail_reset_link(email, redirect_to), "reset mail")

    async def _mail_reset_link(self, email: str, redirect_to: str | None) -> None:
        """Mail the link. With ``redirectTo`` it leads to the app's own form; without, to the server's
        reset page (which works whichever front serves the origin)."""
        user = await self.backend.users.get_user_by_email(email)
        if user is None:
            return
        ttl = self.config.auth.reset_ttl_seconds
        token = await self.issue_token(RESET_PASSWORD, {"userId": user.id}, ttl)
        url = link(self.config.auth.url, f"/auth/reset-password/{token}", callbackURL=redirect_to)
        await self.mailer.send_reset_password(user.email, reset_url=url, ttl_seconds=ttl)

    async def reset_token_is_live(self, token: str) -> bool:
        """Look at a reset token without using it (the mailed link redirects to the form with it)."""
        stored = await self.backend.tokens.get_token(RESET_PASSWORD, hash_token(token)) if token else None
        return stored is not None and not self._expired(stored)

    async def reset_password(self, *, token: str, new_password: str) -> None:
        if not token:
            raise auth_error("INVALID_TOKEN")
        self.check_length(new_password)
        token_hash = hash_token(token)
        stored = await self.backend.tokens.get_token(RESET_PASSWORD, token_hash)
        if stored is None or self._expired(stored):
            raise auth_error("INVALID_TOKEN")
        user = await self.backend.users.get_user(str(stored.data.get("userId", "")))
        if user is None:
            raise auth_error("INVALID_TOKEN")
        # Validate the new password before using the token up, so a refused password can be retried.
        password_hash = await self.hash_new_password(new_password, email=user.email, name=user.name)
        if await self.backend.tokens.consume_token(RESET_PASSWORD, token_hash) is None:
            raise auth_error("INVALID_TOKEN")  # a concurrent reset used it first
        await self.backend.users.set_password_hash(user.id, password_hash,
                                                   audit=user_event("auth.password_reset", user.id))
        revoked = await self.sessions.revoke_all(user.id)
        await self.backend.tokens.delete_tokens_for_user(user.id, kind=RESET_PASSWORD)
        log.info("auth: user %s reset their password; %d session(s) revoked", user.id, revoked)

    # ------------------------------------------------------------------ magic link

    async def send_magic_link(self, *, email: str, name: str | None, callback_url: str | None,
                              new_user_callback_url: str | None, error_callback_url: str | None) -> None:
        self.check_target(callback_url, "INVALID_CALLBACK_URL")
        self.check_target(new_user_callback_url, "INVALID_NEW_USER_CALLBACK_URL")
        self.check_target(error_callback_url, "INVALID_ERROR_CALLBACK_URL")
        email = self.check_email(email)
        user = await self.backend.users.get_user_by_email(email)
        data: dict[str, Any] = {"email": email, "name": name or ""}
        if user is not None:
            data["userId"] = user.id
        ttl = self.config.auth.magic_link_ttl_seconds
        token = await self.issue_token(MAGIC_LINK, data, ttl)
        url = link(self.config.auth.url, "/auth/magic-link/verify", token=token, callbackURL=callback_url or "/",
                   newUserCallbackURL=new_user_callback_url, errorCallbackURL=error_callback_url)
        # Sent whatever the account state, so the answer (and its timing) is the same for every email.
        try:
            await self.mailer.send_magic_link(email, login_url=url, ttl_seconds=ttl)
        except MailDeliveryError:
            # The transport's own failure, said honestly (502), never a stack trace or the link in a log.
            log.warning("auth: the magic-link mail could not be delivered")
            raise auth_error("MAIL_DELIVERY_FAILED") from None

    async def verify_magic_link(self, *, token: str, client: ClientInfo) -> SignedIn:
        stored = await self.backend.tokens.consume_token(MAGIC_LINK, hash_token(token)) if token else None
        if stored is None:
            raise auth_error("INVALID_TOKEN", status=401)
        if self._expired(stored):
            raise auth_error("EXPIRED_TOKEN")
        email = str(stored.data.get("email", ""))
        user = await self.backend.users.get_user_by_email(email)
        is_new = False
        if user is None:
            try:
                user, _ = await self.create_user(email=email, name=str(stored.data.get("name") or ""),
                                                 email_verified=True, method="magic_link")
                is_new = True
            except DuplicateEmail:
                user = await self.backend.users.get_user_by_email(email)
                if user is None:
                    raise auth_error("FAILED_TO_CREATE_USER") from None
        user = await self.prove_email(user)
        issued = await self.sessions.issue(user.id, ip_address=client.ip_address, user_agent=client.user_agent,
                                           audit=self.signed_in(user, "magic_link"))
        log.info("auth: user %s signed in with a magic link", user.id)
        return SignedIn(user, issued, is_new_user=is_new)
