"""``/auth/*``: sign-up, sign-in, sign-out, session, email verification, password reset, magic link.

Each handler parses with a pydantic model, calls one service method and shapes better-auth's answer
(better-auth's JSON shapes and error codes). One-time links are scanner-safe: a browser GET
(``Accept: text/html``) of a verification or magic link gets a self-contained confirm page rendered by the
server (``pages.py``), whose form POSTs the token; only that POST (or a JSON client's GET, upstream's
behaviour) uses the token up, and a form POST then redirects to the validated callback. HEAD never
reaches these handlers. The mailed reset link never uses the token: it redirects to the ``redirectTo``
form the app asked for, or (none asked for) opens the server's own reset page.
"""

from __future__ import annotations

from aiohttp import web

from localcore.appkeys import MAILER
from localcore.auth import models as m
from localcore.auth import pages
from localcore.auth.context import body_of, client_of, start_session
from localcore.auth.errors import auth_error
from localcore.auth.keys import AUTH_SERVICE, SESSION_COOKIES
from localcore.auth.service import RESET_MESSAGE
from localcore.auth.urls import with_query
from localcore.auth.views import json_response, redirect, session_json, user_json, wants_html
from localcore.errors import AuthError
from localcore.http.identity import current_identity, forget_identity
from localcore.http.openapi import Param, RouteCatalog, html_page, redirect_to
from localcore.http.validation import parse_query

TAG = "auth"
INVITE_FAILED_COOKIE = "boring_invite_failed"


def _require_mail(request: web.Request) -> None:
    if not request.app[MAILER].enabled:
        raise auth_error("NOT_FOUND", f"Route {request.method}:{request.path} not found")


# ----------------------------------------------------------------------------- email + password


async def sign_up(request: web.Request) -> web.Response:
    body = await body_of(request, m.SignUpBody)
    invite_token = request.headers.get("x-invite-token") or None
    signed_in = await request.app[AUTH_SERVICE].sign_up(
        name=body.name, email=body.email, password=body.password, image=body.image,
        callback_url=body.callbackURL, remember=body.rememberMe is not False, invite_token=invite_token,
        client=client_of(request))
    start_session(request, signed_in)
    response = json_response({"token": signed_in.issued.token, "user": user_json(signed_in.user)})
    if signed_in.invite_failure:
        # Read (and cleared) by the shell's script, so not HttpOnly; it holds only an error code.
        response.set_cookie(INVITE_FAILED_COOKIE, signed_in.invite_failure, max_age=60, path="/",
                            samesite="Lax")
    return response


async def sign_in(request: web.Request) -> web.Response:
    body = await body_of(request, m.SignInBody)
    signed_in = await request.app[AUTH_SERVICE].sign_in(
        email=body.email, password=body.password, callback_url=body.callbackURL,
        remember=body.rememberMe is not False, client=client_of(request))
    start_session(request, signed_in)
    payload = {"redirect": body.callbackURL is not None, "token": signed_in.issued.token,
               "user": user_json(signed_in.user)}
    if body.callbackURL is not None:
        payload["url"] = body.callbackURL
    return json_response(payload)


async def sign_out(request: web.Request) -> web.Response:
    cookies = request.app[SESSION_COOKIES]
    token = cookies.token(request)
    if token is not None:
        identity = await current_identity(request)
        await request.app[AUTH_SERVICE].sign_out(identity.token_hash if identity else None,
                                                 identity.user if identity else None)
    cookies.clear(request)
    forget_identity(request)
    return json_response({"success": True})


async def get_session(request: web.Request) -> web.Response:
    parse_query(request, m.SessionQuery, code="VALIDATION_ERROR")
    identity = await current_identity(request)
    if identity is None:
        return json_response(None)
    own_token = request.app[SESSION_COOKIES].token(request)
    return json_response({"session": session_json(identity.session, own_token), "user": user_json(identity.user)})


# ----------------------------------------------------------------------------- email verification


async def verify_email_link(request: web.Request) -> web.StreamResponse:
    query = parse_query(request, m.VerifyEmailQuery, code="VALIDATION_ERROR")
    service = request.app[AUTH_SERVICE]
    callback = service.check_target(query.callbackURL, "INVALID_CALLBACK_URL")
    if wants_html(request):  # the page's button POSTs the token; opening it uses nothing
        if not query.token:
            return pages.render(request, pages.link_failed_page("verification"), status=400)
        return pages.render(request, pages.verify_email_page(query.token, callback))
    try:
        signed_in = await service.verify_email(query.token, client=client_of(request))
    except AuthError as exc:
        if callback is None:
            raise
        return redirect(with_query(callback, error=exc.code))
    if signed_in is not None:
        start_session(request, signed_in)
    if callback is not None:
        return redirect(callback)
    return json_response({"status": True, "user": None})


async def verify_email(request: web.Request) -> web.Response:
    body = await body_of(request, m.VerifyEmailBody)
    service = request.app[AUTH_SERVICE]
    callback = service.check_target(body.callbackURL, "INVALID_CALLBACK_URL")
    try:
        signed_in = await service.verify_email(body.token, client=client_of(request))
    except AuthError as exc:
        if pages.is_form_post(request):
            return pages.render(request, pages.link_failed_page("verification"), status=exc.status)
        raise
    forget_identity(request)
    if signed_in is not None:
        start_session(request, signed_in)
    if pages.is_form_post(request):
        return pages.see_other(callback or "/")
    return json_response({"status": True})


async def send_verification_email(request: web.Request) -> web.Response:
    body = await body_of(request, m.SendVerificationBody)
    identity = await current_identity(request)
    await request.app[AUTH_SERVICE].send_verification_email(
        email=body.email, callback_url=body.callbackURL, session_user=identity.user if identity else None)
    return json_response({"status": True})


# ----------------------------------------------------------------------------- password reset


async def request_password_reset(request: web.Request) -> web.Response:
    body = await body_of(request, m.RequestResetBody)
    await request.app[AUTH_SERVICE].request_password_reset(email=body.email, redirect_to=body.redirectTo)
    return json_response({"status": True, "message": RESET_MESSAGE})


async def reset_password_link(request: web.Request) -> web.Response:
    """The mailed link: 302 to the form with the token (checked, not used), or with ``?error=``."""
    query = parse_query(request, m.ResetLinkQuery, code="VALIDATION_ERROR")
    service = request.app[AUTH_SERVICE]
    asked = service.check_target(query.callbackURL, "INVALID_CALLBACK_URL")
    token = request.match_info["token"]
    if asked is None and wants_html(request):  # no form of the app's own: the server's page
        if await service.reset_token_is_live(token):
            return pages.render(request, pages.reset_password_page(token))
        return pages.render(request, pages.link_failed_page("password reset"), status=400)
    callback = asked or "/auth/reset-password"
    if await service.reset_token_is_live(token):
        return redirect(with_query(callback, token=token))
    return redirect(with_query(callback, error="INVALID_TOKEN"))


async def reset_password(request: web.Request) -> web.Response:
    body = await body_of(request, m.ResetPasswordBody)
    token = body.token or request.query.get("token", "")
    try:
        await request.app[AUTH_SERVICE].reset_password(token=token, new_password=body.newPassword)
    except AuthError as exc:
        if not pages.is_form_post(request):
            raise
        if exc.code == "INVALID_TOKEN":
            return pages.render(request, pages.link_failed_page("password reset"), status=exc.status)
        return pages.render(request, pages.reset_password_page(token), error=exc.message, status=exc.status)
    if request.app[SESSION_COOKIES].token(request) is not None:
        request.app[SESSION_COOKIES].clear(request)  # every session of that user was just revoked
    if pages.is_form_post(request):
        return pages.see_other("/")
    return json_response({"status": True})


# ----------------------------------------------------------------------------- magic link


async def send_magic_link(request: web.Request) -> web.Response:
    _require_mail(request)
    body = await body_of(request, m.MagicLinkBody)
    await request.app[AUTH_SERVICE].send_magic_link(
        email=body.email, name=body.name, callback_url=body.callbackURL,
        new_user_callback_url=body.newUserCallbackURL, error_callback_url=body.errorCallbackURL)
    return json_response({"status": True})


async def magic_link_page_or_verify(request: web.Request) -> web.StreamResponse:
    _require_mail(request)
    query = parse_query(request, m.MagicLinkQuery, code="VALIDATION_ERROR")
    service = request.app[AUTH_SERVICE]
    callback = service.check_target(query.callbackURL, "INVALID_CALLBACK_URL")
    new_user = service.check_target(query.newUserCallbackURL, "INVALID_NEW_USER_CALLBACK_URL")
    on_error = service.check_target(query.errorCallbackURL, "INVALID_ERROR_CALLBACK_URL")
    if wants_html(request):  # the page's button POSTs the token; opening it uses nothing
        if not query.token:
            return pages.render(request, pages.link_failed_page("sign-in"), status=400)
        page = pages.magic_link_page(service.config.app_name, query.token, callback, new_user)
        return pages.render(request, page)
    try:
        signed_in = await service.verify_magic_link(token=query.token, client=client_of(request))
    except AuthError as exc:
        return redirect(with_query(on_error or callback or "/", error=exc.code))
    start_session(request, signed_in)
    if callback is None:
        return json_response({"token": signed_in.issued.token, "user": user_json(signed_in.user),
                              "session": session_json(signed_in.issued.session, signed_in.issued.token)})
    return redirect(new_user if signed_in.is_new_user and new_user else callback)


async def verify_magic_link(request: web.Request) -> web.Response:
    _require_mail(request)
    body = await body_of(request, m.MagicLinkVerifyBody)
    service = request.app[AUTH_SERVICE]
    callback = service.check_target(body.callbackURL, "INVALID_CALLBACK_URL")
    new_user = service.check_target(body.newUserCallbackURL, "INVALID_NEW_USER_CALLBACK_URL")
    try:
        signed_in = await service.verify_magic_link(token=body.token, client=client_of(request))
    except AuthError as exc:
        if pages.is_form_post(request):
            return pages.render(request, pages.link_failed_page("sign-in"), status=exc.status)
        raise
    start_session(request, signed_in)
    url = new_user if signed_in.is_new_user and new_user else callback
    if pages.is_form_post(request):
        return pages.see_other(url or "/")
    return json_response({"token": signed_in.issued.token, "user": user_json(signed_in.user),
                          "session": session_json(signed_in.issued.session), "url": url})


def setup_auth_routes(app: web.Application, catalog: RouteCatalog) -> None:
    r = app.router
    add = catalog.add
    e = auth_error
    callback = e("INVALID_CALLBACK_URL")
    magic_targets = (callback, e("INVALID_NEW_USER_CALLBACK_URL"), e("INVALID_ERROR_CALLBACK_URL"))
    new_password = (e("PASSWORD_TOO_SHORT"), e("PASSWORD_TOO_LONG"), e("WEAK_PASSWORD"))
    mail_off = e("NOT_FOUND", "Route POST:/auth/sign-in/magic-link not found")  # mail is not configured
    link_failed = html_page("The confirm page, saying the link is invalid, used or expired")
    add(r, "POST", "/auth/sign-up/email", sign_up, tag=TAG, body=m.SignUpBody, response=m.TokenAndUser,
        summary="Create an account with email and password and sign in",
        params=[Param("x-invite-token", "header", "An invite to accept for the new account")],
        raises=[callback, e("INVALID_EMAIL"), *new_password, e("USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL")])
    add(r, "POST", "/auth/sign-in/email", sign_in, tag=TAG, body=m.SignInBody, response=m.SignInOut,
        summary="Sign in with email and password (429 also after 10 failures for one email)",
        raises=[callback, e("INVALID_EMAIL"), e("INVALID_EMAIL_OR_PASSWORD")])
    add(r, "POST", "/auth/sign-out", sign_out, tag=TAG, response=m.SuccessOut,
        summary="Delete the current session and expire the cookie")
    add(r, "GET", "/auth/get-session", get_session, tag=TAG, query=m.SessionQuery, response=m.SessionWithUser,
        nullable=True, summary="The current session and user, or null (with the daily sliding refresh)")
    add(r, "GET", "/auth/verify-email", verify_email_link, tag=TAG, query=m.VerifyEmailQuery,
        response=m.StatusOut,
        summary="The mailed verification link: the confirm page for browsers (Accept: text/html); JSON "
                "clients verify",
        responses={200: html_page("The confirm page, whose button POSTs the token"), 400: link_failed,
                   302: redirect_to("To callbackURL (with ?error= on failure)")},
        raises=[callback, e("INVALID_TOKEN", status=401), e("TOKEN_EXPIRED")])
    add(r, "POST", "/auth/verify-email", verify_email, tag=TAG, body=m.VerifyEmailBody, response=m.StatusOut,
        summary="Use a verification token (the confirm page's form POST is answered 303 or the page again)",
        responses={303: redirect_to("A form POST: to callbackURL"), 401: link_failed},
        raises=[callback, e("INVALID_TOKEN", status=401), e("TOKEN_EXPIRED")])
    add(r, "POST", "/auth/send-verification-email", send_verification_email, tag=TAG,
        body=m.SendVerificationBody, response=m.StatusOut,
        summary="Mail a new verification link (same answer whether or not the account exists)",
        raises=[e("VERIFICATION_EMAIL_NOT_ENABLED"), callback, e("INVALID_EMAIL"), e("EMAIL_MISMATCH"),
                e("EMAIL_ALREADY_VERIFIED")])
    add(r, "POST", "/auth/request-password-reset", request_password_reset, tag=TAG, body=m.RequestResetBody,
        response=m.ResetRequestOut, summary="Mail a reset link (same answer whether or not the account exists)",
        raises=[e("RESET_PASSWORD_DISABLED"), e("INVALID_REDIRECT_URL"), e("INVALID_EMAIL")])
    add(r, "GET", "/auth/reset-password/{token}", reset_password_link, tag=TAG, query=m.ResetLinkQuery,
        summary="The mailed reset link: 302 to the app's form with the token (or ?error=INVALID_TOKEN); "
                "without callbackURL a browser gets the server's reset page",
        status=302, responses={302: redirect_to("To callbackURL (default /auth/reset-password)"),
                               200: html_page("The server's reset page"), 400: link_failed},
        raises=[callback])
    add(r, "POST", "/auth/reset-password", reset_password, tag=TAG, body=m.ResetPasswordBody,
        response=m.StatusOut, summary="Set a new password with a reset token; revokes every session",
        params=[Param("token", "query", "The reset token, when the body has none")],
        responses={303: redirect_to("A form POST: to /"), 400: html_page("A form POST: the reset page again, with the "
                                                                 "reason")},
        raises=[e("INVALID_TOKEN"), *new_password])
    add(r, "POST", "/auth/sign-in/magic-link", send_magic_link, tag=TAG, body=m.MagicLinkBody,
        response=m.StatusOut, summary="Mail a one-time sign-in link (404 when mail is not configured)",
        raises=[mail_off, *magic_targets, e("INVALID_EMAIL"), e("MAIL_DELIVERY_FAILED")])
    add(r, "GET", "/auth/magic-link/verify", magic_link_page_or_verify, tag=TAG, query=m.MagicLinkQuery,
        response=m.MagicLinkOut,
        summary="The mailed sign-in link: the confirm page for browsers (Accept: text/html); JSON clients "
                "sign in",
        responses={200: html_page("The confirm page, whose button POSTs the token"), 400: link_failed,
                   302: redirect_to("To callbackURL (newUserCallbackURL for a new user), or with ?error=")},
        raises=[e("NOT_FOUND", "Route GET:/auth/magic-link/verify not found"), *magic_targets])
    add(r, "POST", "/auth/magic-link/verify", verify_magic_link, tag=TAG, body=m.MagicLinkVerifyBody,
        response=m.MagicLinkOut,
        summary="Use a magic-link token and sign in (the confirm page's form POST is answered 303 or the "
                "page again)",
        responses={303: redirect_to("A form POST: to callbackURL"), 401: link_failed, 422: link_failed},
        raises=[e("NOT_FOUND", "Route POST:/auth/magic-link/verify not found"), *magic_targets[:2],
                e("INVALID_TOKEN", status=401), e("EXPIRED_TOKEN"), e("FAILED_TO_CREATE_USER")])
