"""Typed application state of the auth feature."""

from __future__ import annotations

from aiohttp import web

from localcore.auth.account import AccountService
from localcore.auth.cookies import SessionCookies
from localcore.auth.identity_cache import IdentityCache
from localcore.auth.oauth import GoogleOAuth
from localcore.auth.service import AuthService

AUTH_SERVICE = web.AppKey("localcore.auth.service", AuthService)
ACCOUNT_SERVICE = web.AppKey("localcore.auth.account", AccountService)
SESSION_COOKIES = web.AppKey("localcore.auth.cookies", SessionCookies)
GOOGLE_OAUTH = web.AppKey("localcore.auth.google", GoogleOAuth)
IDENTITY_CACHE = web.AppKey("localcore.auth.identity_cache", IdentityCache)
