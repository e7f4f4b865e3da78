"""``POST /auth/sign-in/social`` and ``GET /auth/callback/google`` (the flow itself is in ``oauth.py``).

Google is usable only with ``[features] google_oauth = true`` AND both credentials (docs/compatibility.md,
fix 13); otherwise ``provider: "google"`` is 404 ``PROVIDER_NOT_FOUND`` like any known provider localcore
does not offer, and a name that is no provider at all is a 400.

The state also travels in a signed HttpOnly cookie scoped to the callback path (SameSite=Lax, so the
provider's top-level redirect carries it): a callback is only accepted by the browser that began it.
"""

from __future__ import annotations

from aiohttp import web

from localcore.appkeys import CONFIG
from localcore.auth import models as m
from localcore.auth.context import body_of, client_of, start_session
from localcore.auth.errors import auth_error
from localcore.auth.keys import AUTH_SERVICE, GOOGLE_OAUTH
from localcore.auth.oauth import STATE_TTL_SECONDS, OAuthFailure
from localcore.auth.tokens import same_secret, sign, unsign
from localcore.auth.urls import with_query
from localcore.auth.views import json_response, redirect
from localcore.http.openapi import RouteCatalog, redirect_to
from localcore.http.validation import parse_query

TAG = "auth"
CALLBACK_PATH = "/auth/callback/google"
KNOWN_PROVIDERS = frozenset({
    "apple", "atlassian", "cognito", "discord", "dropbox", "facebook", "figma", "github", "gitlab", "google",
    "huggingface", "kakao", "kick", "line", "linear", "linkedin", "microsoft", "naver", "notion", "paypal",
    "reddit", "roblox", "salesforce", "slack", "spotify", "tiktok", "twitch", "twitter", "vk", "zoom",
})


def _state_cookie_name(request: web.Request) -> str:
    config = request.app[CONFIG]
    prefix = "__Secure-" if config.auth.session_cookie_secure else ""
    return f"{prefix}{config.app_id}.oauth_state"


async def sign_in_social(request: web.Request) -> web.Response:
    body = await body_of(request, m.SocialSignInBody)
    if body.provider not in KNOWN_PROVIDERS:
        raise auth_error("VALIDATION_ERROR", f"provider: Invalid provider '{body.provider}'")
    google = request.app[GOOGLE_OAUTH]
    if body.provider != "google" or not google.enabled:
        raise auth_error("PROVIDER_NOT_FOUND")
    if body.idToken is not None:
        raise auth_error("VALIDATION_ERROR", "idToken sign-in is not supported; use the redirect flow")
    service = request.app[AUTH_SERVICE]
    callback = service.check_target(body.callbackURL, "INVALID_CALLBACK_URL")
    on_error = service.check_target(body.errorCallbackURL, "INVALID_ERROR_CALLBACK_URL")
    new_user = service.check_target(body.newUserCallbackURL, "INVALID_NEW_USER_CALLBACK_URL")
    started = await google.start(callback_url=callback, error_callback_url=on_error,
                                 new_user_callback_url=new_user, scopes=body.scopes)
    follow = not body.disableRedirect
    response = json_response({"url": started.url, "redirect": follow})
    if follow:
        response.headers["Location"] = started.url
    config = request.app[CONFIG]
    response.set_cookie(_state_cookie_name(request), sign(config.auth.secret, started.state),
                        max_age=STATE_TTL_SECONDS, path=CALLBACK_PATH, httponly=True, samesite="Lax",
                        secure=config.auth.session_cookie_secure)
    return response


async def google_callback(request: web.Request) -> web.Response:
    query = parse_query(request, m.OAuthCallbackQuery, code="VALIDATION_ERROR")
    google = request.app[GOOGLE_OAUTH]
    if not google.enabled:
        raise auth_error("PROVIDER_NOT_FOUND")
    config = request.app[CONFIG]
    cookie_state = unsign(config.auth.secret, request.cookies.get(_state_cookie_name(request)))
    matches = bool(query.state and cookie_state and same_secret(cookie_state, query.state))
    try:
        finished = await google.finish(state=query.state, state_matches_cookie=matches, code=query.code,
                                       error=query.error, client=client_of(request))
    except OAuthFailure as failure:
        response = redirect(with_query(failure.target, error=failure.code))
    else:
        start_session(request, finished.signed_in)
        response = redirect(finished.target)
    response.del_cookie(_state_cookie_name(request), path=CALLBACK_PATH, httponly=True, samesite="Lax",
                        secure=config.auth.session_cookie_secure)
    return response


def setup_social_routes(app: web.Application, catalog: RouteCatalog) -> None:
    e = auth_error
    catalog.add(app.router, "POST", "/auth/sign-in/social", sign_in_social, tag=TAG, body=m.SocialSignInBody,
                response=m.SocialOut, summary="Start Google sign-in (authorization code + state + PKCE)",
                raises=[e("VALIDATION_ERROR", "provider: Invalid provider 'myspace'"),
                        e("VALIDATION_ERROR", "idToken sign-in is not supported; use the redirect flow"),
                        e("PROVIDER_NOT_FOUND"), e("INVALID_CALLBACK_URL"), e("INVALID_ERROR_CALLBACK_URL"),
                        e("INVALID_NEW_USER_CALLBACK_URL")])
    catalog.add(app.router, "GET", CALLBACK_PATH, google_callback, tag=TAG, query=m.OAuthCallbackQuery,
                summary="Google's redirect back: sign in (creating or linking the user), then 302",
                status=302, responses={302: redirect_to("To callbackURL, or to errorCallbackURL with ?error=")},
                raises=[e("PROVIDER_NOT_FOUND")])
