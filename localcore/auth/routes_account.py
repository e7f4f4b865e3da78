"""``/auth/*`` for a signed-in user: password, profile, sessions.

The better-auth endpoints boring-core leaves reachable and its frontend uses, plus two small
localcore additions so a passwordless account (Google, magic link, the desktop owner) can complete itself:
``POST /auth/set-password`` (only while the account has no password) and ``POST /auth/change-email``
(only while the current address is unverified).
"""

from __future__ import annotations

from aiohttp import web

from localcore.auth import models as m
from localcore.auth.context import body_of, client_of, identity_of
from localcore.auth.errors import auth_error
from localcore.auth.keys import ACCOUNT_SERVICE, SESSION_COOKIES
from localcore.auth.views import json_response, session_json, user_json
from localcore.http.identity import forget_identity
from localcore.http.openapi import RouteCatalog

TAG = "auth"


async def change_password(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    body = await body_of(request, m.ChangePasswordBody)
    replacement = await request.app[ACCOUNT_SERVICE].change_password(
        identity.user, current_password=body.currentPassword, new_password=body.newPassword,
        revoke_other_sessions=bool(body.revokeOtherSessions), client=client_of(request))
    token = None
    if replacement is not None:
        request.app[SESSION_COOKIES].set(request, replacement.token)
        forget_identity(request)
        token = replacement.token
    return json_response({"token": token, "user": user_json(identity.user)})


async def set_password(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    body = await body_of(request, m.SetPasswordBody)
    await request.app[ACCOUNT_SERVICE].set_password(identity.user, new_password=body.newPassword)
    return json_response({"status": True})


async def change_email(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    body = await body_of(request, m.ChangeEmailBody)
    await request.app[ACCOUNT_SERVICE].change_email(identity.user, new_email=body.newEmail,
                                                 callback_url=body.callbackURL)
    forget_identity(request)
    return json_response({"status": True})


async def update_user(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    body = await body_of(request, m.UpdateUserBody)
    given = body.model_fields_set
    if "email" in given:
        raise auth_error("EMAIL_CAN_NOT_BE_UPDATED")
    if not given & {"name", "image"}:
        raise auth_error("NO_FIELDS_TO_UPDATE")
    await request.app[ACCOUNT_SERVICE].update_user(
        identity.user, name=body.name, image=body.image, clear_image="image" in given and body.image is None)
    forget_identity(request)
    return json_response({"status": True})


async def list_sessions(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    sessions = await request.app[ACCOUNT_SERVICE].list_sessions(identity.user)
    own = request.app[SESSION_COOKIES].token(request)
    return json_response([session_json(s, own if s.id == identity.session.id else None) for s in sessions])


async def revoke_session(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    body = await body_of(request, m.RevokeSessionBody)
    revoked = await request.app[ACCOUNT_SERVICE].revoke_session(identity.user, body.token)
    if revoked == identity.token_hash:
        request.app[SESSION_COOKIES].clear(request)
        forget_identity(request)
    return json_response({"status": True})


async def revoke_sessions(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    await request.app[ACCOUNT_SERVICE].revoke_sessions(identity.user)
    request.app[SESSION_COOKIES].clear(request)
    forget_identity(request)
    return json_response({"status": True})


async def revoke_other_sessions(request: web.Request) -> web.Response:
    identity = await identity_of(request)
    await request.app[ACCOUNT_SERVICE].revoke_sessions(identity.user, keep_token_hash=identity.token_hash)
    return json_response({"status": True})


def setup_account_routes(app: web.Application, catalog: RouteCatalog) -> None:
    r = app.router
    add = catalog.add
    e = auth_error
    new_password = (e("PASSWORD_TOO_SHORT"), e("PASSWORD_TOO_LONG"), e("WEAK_PASSWORD"))
    add(r, "POST", "/auth/change-password", change_password, tag=TAG, body=m.ChangePasswordBody,
        response=m.TokenAndUser, auth=True,
        summary="Change the password; with revokeOtherSessions every session is replaced by a new one",
        raises=[*new_password, e("CREDENTIAL_ACCOUNT_NOT_FOUND"), e("INVALID_PASSWORD")])
    add(r, "POST", "/auth/set-password", set_password, tag=TAG, body=m.SetPasswordBody, response=m.StatusOut,
        auth=True, summary="Give a password to an account that has none",
        raises=[*new_password, e("USER_ALREADY_HAS_PASSWORD")])
    add(r, "POST", "/auth/change-email", change_email, tag=TAG, body=m.ChangeEmailBody, response=m.StatusOut,
        auth=True, summary="Change an unverified email address (a verification link goes to the new one)",
        raises=[e("INVALID_CALLBACK_URL"), e("INVALID_EMAIL"), e("EMAIL_IS_THE_SAME"), e("EMAIL_CHANGE_NOT_ALLOWED"),
                e("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")])
    add(r, "POST", "/auth/update-user", update_user, tag=TAG, body=m.UpdateUserBody, response=m.StatusOut,
        auth=True, summary="Change the name or image",
        raises=[e("EMAIL_CAN_NOT_BE_UPDATED"), e("NO_FIELDS_TO_UPDATE")])
    add(r, "GET", "/auth/list-sessions", list_sessions, tag=TAG, response=list[m.SessionOut], auth=True,
        summary="The user's active sessions (ids, never tokens)")
    add(r, "POST", "/auth/revoke-session", revoke_session, tag=TAG, body=m.RevokeSessionBody,
        response=m.StatusOut, auth=True, summary="Revoke one of the user's sessions (by token or id)")
    add(r, "POST", "/auth/revoke-sessions", revoke_sessions, tag=TAG, response=m.StatusOut, auth=True,
        summary="Revoke every session of the user, this one included")
    add(r, "POST", "/auth/revoke-other-sessions", revoke_other_sessions, tag=TAG, response=m.StatusOut,
        auth=True, summary="Revoke every session of the user except this one")
