"""The confirm pages of the mailed one-time links, rendered by the server: self-contained, so they work
whichever front serves the origin (the bundled shell, boring-core's own React front, or none).

A browser that opens a verification, magic-link or reset link gets one small HTML page — the app's name
and logo, inline styles stamped with the request's CSP nonce, no script — whose plain
``<form method="post">`` carries the token. Opening the link uses nothing (mail scanners and link
previewers fetch every URL); only the button's POST acts, and then redirects to the link's validated
``callbackURL`` (``303 See Other``). A refused token re-renders the page with the reason.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING

from aiohttp import web

from localcore.appkeys import CONFIG
from localcore.http.security_headers import csp_nonce

if TYPE_CHECKING:
    import jinja2


@cache
def _templates() -> jinja2.Environment:
    """Built on the first confirm page (Jinja2's import is a noticeable share of a cold start)."""
    import jinja2

    return jinja2.Environment(
        loader=jinja2.PackageLoader("localcore.auth", "templates"),
        autoescape=jinja2.select_autoescape(default=True),
        undefined=jinja2.StrictUndefined,
    )

FORM = "application/x-www-form-urlencoded"


@dataclass(frozen=True, slots=True)
class ConfirmPage:
    title: str
    description: str
    button: str = ""
    action: str = ""
    hidden: Sequence[tuple[str, str]] = ()
    password: bool = False
    link: tuple[str, str] | None = None


def is_form_post(request: web.Request) -> bool:
    """A browser's form submission (the confirm pages' button), as opposed to a JSON client."""
    return request.content_type == FORM


def render(request: web.Request, page: ConfirmPage, *, error: str | None = None, status: int = 200) -> web.Response:
    config = request.app[CONFIG]
    html = _templates().get_template("confirm.html").render(
        title=page.title, description=page.description, button=page.button, action=page.action,
        hidden=[(name, value) for name, value in page.hidden if value], password=page.password, link=page.link,
        error=error, app_name=config.app_name, logo=config.app_logo, nonce=csp_nonce(request))
    return web.Response(text=html, content_type="text/html", charset="utf-8", status=status,
                        # same-origin, not no-referrer: the token in the address never leaves the origin, and
                        # the form's POST keeps a real Origin (no-referrer makes browsers send "null",
                        # which the CSRF check rightly refuses).
                        headers={"Cache-Control": "no-store", "Referrer-Policy": "same-origin"})


def see_other(location: str) -> web.Response:
    """After a form POST: the browser GETs the destination."""
    return web.Response(status=303, headers={"Location": location, "Cache-Control": "no-store"})


def verify_email_page(token: str, callback_url: str | None) -> ConfirmPage:
    return ConfirmPage(
        title="Verify your email",
        description="Confirm that this email address is yours to finish setting up your account.",
        button="Verify email", action="/auth/verify-email",
        hidden=(("token", token), ("callbackURL", callback_url or "")))


def magic_link_page(app_name: str, token: str, callback_url: str | None,
                    new_user_callback_url: str | None) -> ConfirmPage:
    return ConfirmPage(
        title=f"Sign in to {app_name}",
        description="This link signs you in on this device. It works once and expires soon.",
        button="Sign in", action="/auth/magic-link/verify",
        hidden=(("token", token), ("callbackURL", callback_url or ""),
                ("newUserCallbackURL", new_user_callback_url or "")))


def reset_password_page(token: str) -> ConfirmPage:
    return ConfirmPage(
        title="Reset password", description="Choose a new password for your account.",
        button="Reset password", action="/auth/reset-password", hidden=(("token", token),), password=True)


def link_failed_page(what: str) -> ConfirmPage:
    return ConfirmPage(title="Link expired",
                       description=f"This {what} link is invalid, was already used or has expired. "
                                   "Request a new one from the app.",
                       link=("Go to the app", "/"))
