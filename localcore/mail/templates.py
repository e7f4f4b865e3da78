"""The five emails — VerifyEmail, ResetPassword, MagicLink, WorkspaceInvite, Welcome — rendered from the
Jinja2 files in ``templates/`` to HTML and text.

Every email shares one layout: a header with the brand (the app name; the workspace name for invites),
a heading, a paragraph, a dark button, a small hint, a rule and ``© <year> <brand>. All rights
reserved.`` HTML is autoescaped; the text part is not (it is not markup). Subjects are built here, not in
the templates, so they are exactly upstream's.

The expiry hints are derived from the configured TTLs (:func:`describe_duration`), not hard-coded
(docs/compatibility.md, fix 10).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import TYPE_CHECKING, Any, Literal

if TYPE_CHECKING:
    from jinja2 import Environment

Unit = Literal["day", "hour", "minute", "second"]

_UNITS: tuple[tuple[Unit, int], ...] = (("day", 86400), ("hour", 3600), ("minute", 60), ("second", 1))



@cache
def _env() -> Environment:
    """Built on the first mail: Jinja2 costs ~60 ms of import at every start, and most starts send none."""
    from jinja2 import Environment, PackageLoader, StrictUndefined, select_autoescape

    return Environment(
        loader=PackageLoader("localcore.mail", "templates"),
        autoescape=select_autoescape(enabled_extensions=("html",), default_for_string=False, default=False),
        undefined=StrictUndefined,
        trim_blocks=True,
        lstrip_blocks=True,
        keep_trailing_newline=True,
    )


@dataclass(frozen=True)
class RenderedEmail:
    subject: str
    html: str
    text: str


def plural(count: int, unit: str) -> str:
    """``1 hour``, ``2 hours``: singular exactly when ``count == 1``."""
    return f"{count} {unit}" if count == 1 else f"{count} {unit}s"


def describe_duration(seconds: int, *, largest: Unit = "day") -> str:
    """The duration in the largest unit, no larger than ``largest``, that divides it exactly.

    ``describe_duration(86400, largest="hour")`` is ``24 hours``; ``describe_duration(1800,
    largest="hour")`` is ``30 minutes``; ``describe_duration(90)`` is ``90 seconds``.
    """
    if seconds <= 0:
        raise ValueError("a TTL must be positive")
    names = [name for name, _ in _UNITS]
    for name, size in _UNITS[names.index(largest):]:
        if seconds % size == 0:
            return plural(seconds // size, name)
    raise AssertionError("unreachable: every whole number of seconds divides by 1")


def _one_line(value: str) -> str:
    # A subject is a mail header: a user-chosen name must not smuggle in a line break.
    return re.sub(r"[\r\n\t\v\f]+", " ", value).strip()


def _render(name: str, *, subject: str, brand: str, year: int, button_label: str, button_url: str,
            **context: Any) -> RenderedEmail:
    subject = _one_line(subject)
    values = {"subject": subject, "brand": brand, "year": year, "button_label": button_label,
              "button_url": button_url, **context}
    html = _env().get_template(f"{name}.html").render(values)
    text = _env().get_template(f"{name}.txt").render(values)
    text = re.sub(r"\n{3,}", "\n\n", text).strip() + "\n"
    return RenderedEmail(subject=subject, html=html, text=text)


def render_verify_email(*, app_name: str, verify_url: str, ttl_seconds: int, year: int) -> RenderedEmail:
    return _render("verify_email", subject=f"Verify your {app_name} email address", brand=app_name,
                   year=year, button_label="Verify email", button_url=verify_url, app_name=app_name,
                   expires_in=describe_duration(ttl_seconds, largest="hour"))


def render_reset_password(*, app_name: str, reset_url: str, ttl_seconds: int, year: int) -> RenderedEmail:
    return _render("reset_password", subject=f"Reset your {app_name} password", brand=app_name, year=year,
                   button_label="Reset password", button_url=reset_url, app_name=app_name,
                   expires_in=describe_duration(ttl_seconds, largest="hour"))


def render_magic_link(*, app_name: str, login_url: str, ttl_seconds: int, year: int) -> RenderedEmail:
    return _render("magic_link", subject=f"Sign in to {app_name}", brand=app_name, year=year,
                   button_label="Sign in", button_url=login_url, app_name=app_name,
                   expires_in=describe_duration(ttl_seconds, largest="minute"))


def render_workspace_invite(*, accept_url: str, inviter_name: str, workspace_name: str, role: str,
                            ttl_days: int, year: int) -> RenderedEmail:
    if ttl_days <= 0:
        raise ValueError("an invite TTL must be positive")
    return _render("workspace_invite", subject=f"{inviter_name} invited you to {workspace_name}",
                   brand=workspace_name, year=year, button_label="Accept invitation",
                   button_url=accept_url, inviter_name=inviter_name, workspace_name=workspace_name,
                   role=role, role_article="an" if role[:1].lower() in "aeiou" else "a",
                   expires_in=plural(ttl_days, "day"))


def render_welcome(*, app_name: str, get_started_url: str, year: int) -> RenderedEmail:
    return _render("welcome", subject=f"Welcome to {app_name}", brand=app_name, year=year,
                   button_label="Get started", button_url=get_started_url, app_name=app_name)
