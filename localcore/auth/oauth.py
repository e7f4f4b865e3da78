"""Google sign-in: OAuth 2.0 authorization code with state and PKCE (S256), all kept server-side.

Flow:
1. ``start``: a random ``state``; the PKCE verifier is derived from it with the server secret (so it is
   never stored); the state's hash keys a one-time token (10 minutes) holding the callback URLs. The
   browser also gets the state in a signed, HttpOnly cookie, so a callback is accepted only in the
   browser that started the flow (no login CSRF).
2. ``finish`` (``GET /auth/callback/google``): the state must match the cookie and name a live token,
   which is used up; the code is exchanged with the verifier; userinfo names the Google account.
3. The account ``("google", sub)`` signs its user in. Otherwise a user with the same email is linked —
   only when Google says the address is verified; if the local address was never verified, whatever
   password it had was set by someone who never proved they own the mailbox, so it is dropped and the
   user's sessions are revoked (pre-account-takeover defence). Otherwise a new, post-sign-up-hooked user
   is created.

Provider endpoints come from the configuration (``GOOGLE_AUTHORIZE_URL``, ``GOOGLE_TOKEN_URL``,
``GOOGLE_USERINFO_URL``) so tests run a fake provider on loopback.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import logging
from dataclasses import dataclass
from datetime import timedelta
from typing import Any
from urllib.parse import urlencode

import aiohttp

from localcore.auth.service import AuthService, ClientInfo, SignedIn
from localcore.auth.tokens import hash_token, new_token, pkce_challenge
from localcore.config import Config, OAuthProvider
from localcore.store import ConstraintViolation, DuplicateEmail, User

log = logging.getLogger("localcore.auth.oauth")

PROVIDER_ID = "google"
STATE_KIND = "oauth-state"
STATE_TTL_SECONDS = 600
DEFAULT_ERROR_TARGET = "/auth/error"
_SCOPES = ("openid", "email", "profile")


class OAuthFailure(Exception):
    """The flow cannot finish: redirect to ``target`` with ``?error=<code>``."""

    def __init__(self, code: str, target: str = DEFAULT_ERROR_TARGET) -> None:
        super().__init__(code)
        self.code = code
        self.target = target


@dataclass(frozen=True, slots=True)
class AuthorizationStart:
    url: str
    state: str


@dataclass(frozen=True, slots=True)
class Finished:
    signed_in: SignedIn
    target: str


class GoogleOAuth:
    def __init__(self, service: AuthService, config: Config) -> None:
        self.service = service
        self.config = config
        self.redirect_uri = f"{config.auth.url}/auth/callback/{PROVIDER_ID}"
        self._http: aiohttp.ClientSession | None = None

    @property
    def enabled(self) -> bool:
        return self.config.google_enabled

    @property
    def provider(self) -> OAuthProvider:
        provider = self.config.auth.google
        if provider is None or not self.enabled:
            raise RuntimeError("Google sign-in is not configured")
        return provider

    def _client(self) -> aiohttp.ClientSession:
        if self._http is None or self._http.closed:
            self._http = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=10))
        return self._http

    async def close(self) -> None:
        if self._http is not None:
            await self._http.close()
            self._http = None

    def _verifier(self, state: str) -> str:
        """The PKCE verifier of a flow, derived from its state with the server secret: it never has to be
        stored (nor logged), and nobody without the secret can compute it. 43 characters (RFC 7636)."""
        digest = hmac.new(self.config.auth.secret.encode("utf-8"), f"pkce:{state}".encode("ascii"),
                          hashlib.sha256).digest()
        return base64.urlsafe_b64encode(digest).rstrip(b"=").decode("ascii")

    async def start(self, *, callback_url: str | None, error_callback_url: str | None,
                    new_user_callback_url: str | None, scopes: list[str] | None = None) -> AuthorizationStart:
        provider = self.provider
        state = new_token()
        verifier = self._verifier(state)
        data = {"callbackURL": callback_url, "errorCallbackURL": error_callback_url,
                "newUserCallbackURL": new_user_callback_url}
        expires_at = self.service.clock() + timedelta(seconds=STATE_TTL_SECONDS)
        await self.service.backend.tokens.put_token(kind=STATE_KIND, token_hash=hash_token(state), data=data,
                                                    expires_at=expires_at)
        scope = " ".join(dict.fromkeys([*_SCOPES, *(scopes or [])]))
        query = urlencode({
            "client_id": provider.client_id, "redirect_uri": self.redirect_uri, "response_type": "code",
            "scope": scope, "state": state, "code_challenge": pkce_challenge(verifier),
            "code_challenge_method": "S256",
        })
        separator = "&" if "?" in provider.authorize_url else "?"
        return AuthorizationStart(url=f"{provider.authorize_url}{separator}{query}", state=state)

    async def finish(self, *, state: str | None, state_matches_cookie: bool, code: str | None,
                     error: str | None, client: ClientInfo) -> Finished:
        if not state:
            raise OAuthFailure("state_not_found")
        if not state_matches_cookie:
            log.warning("oauth: callback state does not match this browser's state cookie")
            raise OAuthFailure("state_mismatch")
        stored = await self.service.backend.tokens.consume_token(STATE_KIND, hash_token(state))
        if stored is None or stored.expires_at <= self.service.clock():
            raise OAuthFailure("state_mismatch")
        data = stored.data
        callback = data.get("callbackURL") or "/"
        on_error = data.get("errorCallbackURL") or data.get("callbackURL") or DEFAULT_ERROR_TARGET
        if error:
            raise OAuthFailure(error if error.replace("_", "").isalnum() else "oauth_error", on_error)
        if not code:
            raise OAuthFailure("no_code", on_error)
        profile = await self._profile(code, self._verifier(state), on_error)
        user, is_new = await self._user_for(profile, on_error)
        issued = await self.service.sessions.issue(user.id, ip_address=client.ip_address,
                                                   user_agent=client.user_agent,
                                                   audit=self.service.signed_in(user, "google"))
        new_user_target = data.get("newUserCallbackURL")
        target = new_user_target if is_new and new_user_target else callback
        log.info("oauth: user %s signed in with Google%s", user.id, " (new)" if is_new else "")
        return Finished(SignedIn(user, issued, is_new_user=is_new), str(target))

    async def _profile(self, code: str, verifier: str, on_error: str) -> dict[str, Any]:
        provider = self.provider
        http = self._client()
        form = {"grant_type": "authorization_code", "code": code, "redirect_uri": self.redirect_uri,
                "client_id": provider.client_id, "client_secret": provider.client_secret,
                "code_verifier": verifier}
        try:
            async with http.post(provider.token_url, data=form, headers={"Accept": "application/json"}) as resp:
                tokens = await resp.json(content_type=None) if resp.status == 200 else None
            access_token = tokens.get("access_token") if isinstance(tokens, dict) else None
            if not isinstance(access_token, str) or not access_token:
                log.warning("oauth: the token endpoint refused the code (HTTP %s)", resp.status)
                raise OAuthFailure("invalid_code", on_error)
            async with http.get(provider.userinfo_url,
                                headers={"Authorization": f"Bearer {access_token}"}) as resp:
                profile = await resp.json(content_type=None) if resp.status == 200 else None
        except (aiohttp.ClientError, TimeoutError, ValueError) as exc:
            log.warning("oauth: provider unreachable (%s)", type(exc).__name__)
            raise OAuthFailure("unable_to_get_user_info", on_error) from None
        if not isinstance(profile, dict) or not profile.get("sub"):
            raise OAuthFailure("unable_to_get_user_info", on_error)
        if not isinstance(profile.get("email"), str) or not profile["email"]:
            raise OAuthFailure("email_not_found", on_error)
        return profile

    async def _user_for(self, profile: dict[str, Any], on_error: str) -> tuple[User, bool]:
        users = self.service.backend.users
        subject = str(profile["sub"])
        email = str(profile["email"])
        google_verified = profile.get("email_verified") in (True, "true")
        account = await users.get_account(PROVIDER_ID, subject)
        if account is not None:
            user = await users.get_user(account.user_id)
            if user is None:
                raise OAuthFailure("user_not_found", on_error)
            return user, False
        existing = await users.get_user_by_email(email)
        if existing is not None:
            if not google_verified:
                raise OAuthFailure("account_not_linked", on_error)
            return await self._link(existing, subject), False
        try:
            user, _ = await self.service.create_user(
                email=email, name=str(profile.get("name") or ""), email_verified=google_verified,
                image=profile.get("picture") if isinstance(profile.get("picture"), str) else None,
                method="google")
        except DuplicateEmail:
            raced = await users.get_user_by_email(email)
            if raced is None or not google_verified:
                raise OAuthFailure("account_not_linked", on_error) from None
            return await self._link(raced, subject), False
        await self._link_account(user, subject)
        return user, True

    async def _link(self, user: User, subject: str) -> User:
        """Attach the Google account to an existing user whose address Google has verified."""
        user = await self.service.prove_email(user)
        await self._link_account(user, subject)
        return user

    async def _link_account(self, user: User, subject: str) -> None:
        try:
            await self.service.backend.users.link_account(user_id=user.id, provider_id=PROVIDER_ID,
                                                          account_id=subject)
        except ConstraintViolation as exc:
            if exc.kind != "unique":
                raise
