"""The session cookie, and the resolver that turns it into ``localcore.http.identity.Identity``.

Cookie (better-auth's names and attributes): ``<appId>.session_token`` (``__Secure-`` prefixed when secure),
value ``<token>.<base64 HMAC-SHA256(BETTER_AUTH_SECRET, token)>`` percent-encoded, ``HttpOnly; Path=/;
SameSite=Lax; Max-Age=<SESSION_TTL_SECONDS>`` (+ ``Secure``). ``rememberMe: false`` drops ``Max-Age`` and
adds a signed ``<appId>.dont_remember`` cookie (better-auth's, kept for its clients); whether the session
slides is decided by the session row, never by that cookie.

Handlers and the resolver never touch the response: they record the wanted change on the request
(set, or clear), and one ``on_response_prepare`` hook writes it — also onto error responses, so a refresh
that happened before a handler failed is not lost. The last change recorded wins (a sign-in after a stale
cookie was noticed sets the new one).
"""

from __future__ import annotations

from collections import OrderedDict
from dataclasses import dataclass

from aiohttp import hdrs, web

from localcore.auth.identity_cache import CacheView
from localcore.auth.sessions import SessionManager
from localcore.auth.tokens import sign, unsign
from localcore.config import Config
from localcore.http.identity import Identity

_TRUE = "true"


@dataclass(frozen=True, slots=True)
class CookieChange:
    """``token`` None means: expire the session cookies."""

    token: str | None
    remember: bool = True


COOKIE_CHANGE = web.RequestKey("localcore.auth.cookie_change", CookieChange)
#: The identity cache view the request's session was resolved under (its other identity lookups use it).
CACHE_VIEW = web.RequestKey("localcore.auth.cache_view", CacheView)
#: Verified cookie values remembered (value -> token): an HMAC of the same input always gives the same
#: answer, so a signed cookie seen before is not verified again. Bounded; least recently used go first.
VERIFIED_COOKIES = 4096


def request_cache_view(request: web.Request) -> CacheView | None:
    """The identity cache view this request's session was resolved under (None before that, or without
    a cache). A handler passes it to the request's other identity lookups — settings, memberships, the
    workspace list — so one identity-version read serves the whole request."""
    return request.get(CACHE_VIEW)


class SessionCookies:
    def __init__(self, config: Config, manager: SessionManager) -> None:
        self.secret = config.auth.secret
        self.secure = config.auth.session_cookie_secure
        self.name = config.cookie_name
        prefix = "__Secure-" if self.secure else ""
        self.dont_remember_name = f"{prefix}{config.app_id}.dont_remember"
        self.max_age = config.auth.session_ttl_seconds
        self.manager = manager
        self._verified: OrderedDict[str, str] = OrderedDict()

    # -------------------------------------------------------------- reading

    def token(self, request: web.Request) -> str | None:
        """The session token of a correctly signed cookie, else None."""
        return unsign(self.secret, request.cookies.get(self.name))

    async def resolve(self, request: web.Request) -> Identity | None:
        """``SESSION_RESOLVER``: the caller's live session, refreshed once a day (not with
        ``?disableRefresh=true``); a dead or forged cookie reads as signed out and is cleared."""
        raw = request.cookies.get(self.name)
        if raw is None:
            return None
        token = self._verified.get(raw)
        if token is None:
            token = unsign(self.secret, raw)
            if token is None:
                self.clear(request)
                return None
            self._verified[raw] = token
            if len(self._verified) > VERIFIED_COOKIES:
                self._verified.popitem(last=False)
        else:
            self._verified.move_to_end(raw)
        # no query string, nothing to parse (the common case)
        allow_refresh = not request.query_string or \
            request.query.get("disableRefresh", "").lower() not in ("true", "1")
        view = await self.manager.view()
        if view is not None:
            request[CACHE_VIEW] = view
        resolution = await self.manager.resolve(token, allow_refresh=allow_refresh, view=view)
        if resolution.found is None:
            if resolution.stale:
                self.clear(request)
            return None
        found = resolution.found
        if found.refreshed:
            self.set(request, token, remember=found.session.remember)
        return Identity(user=found.user, session=found.session, token_hash=found.token_hash)

    # -------------------------------------------------------------- writing

    def set(self, request: web.Request, token: str, *, remember: bool = True) -> None:
        request[COOKIE_CHANGE] = CookieChange(token, remember)

    def clear(self, request: web.Request) -> None:
        request[COOKIE_CHANGE] = CookieChange(None)

    def _write(self, jar: web.StreamResponse, name: str, value: str, max_age: int | None) -> None:
        jar.set_cookie(name, value, max_age=max_age, path="/", httponly=True, samesite="Lax", secure=self.secure)

    def _expire(self, jar: web.StreamResponse, name: str) -> None:
        jar.del_cookie(name, path="/", httponly=True, samesite="Lax", secure=self.secure)

    async def on_response_prepare(self, request: web.Request, response: web.StreamResponse) -> None:
        change = request.get(COOKIE_CHANGE)
        if change is None:
            return
        # aiohttp renders ``response.cookies`` before this hook runs, so the cookies are formatted on a
        # scratch response (aiohttp's own serialisation) and their headers are added here.
        jar = web.StreamResponse()
        remembered_cookie = self.dont_remember_name in request.cookies
        if change.token is None:
            self._expire(jar, self.name)
            if remembered_cookie:
                self._expire(jar, self.dont_remember_name)
        else:
            self._write(jar, self.name, sign(self.secret, change.token),
                        self.max_age if change.remember else None)
            if not change.remember:
                self._write(jar, self.dont_remember_name, sign(self.secret, _TRUE), None)
            elif remembered_cookie:
                self._expire(jar, self.dont_remember_name)
        for morsel in jar.cookies.values():
            response.headers.add(hdrs.SET_COOKIE, morsel.output(header="")[1:])
