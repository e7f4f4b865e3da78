"""Users, their login methods and per-app settings: records, the address rules and ``UserStore``.

Emails are normalised (trimmed, lowercased) by the backend on write and on lookup.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Protocol

from localcore.contract.audit import AuditRecord


def user_lock_key(user_id: str) -> str:
    """The name of the lock that serialises everything about one user's credits and the user's deletion
    (an advisory lock on Postgres, a named asyncio lock in memory; SQLite's one writer makes it moot)."""
    return f"user:{user_id}"


def normalize_email(email: str) -> str:
    return email.strip().lower()


MAX_EMAIL_LENGTH = 254
# zod's email pattern (what better-auth validates with), matched as ASCII only: under Unicode case
# folding ``[A-Z]`` with IGNORECASE also matches U+0131 (dotless i) and U+017F (long s), so "al\u0131ce@…"
# would be a second account beside "alice@…" that looks the same in every mail client.
_EMAIL = re.compile(r"^(?!\.)(?!.*\.\.)([A-Z0-9_'+\-.]*)[A-Z0-9_+-]@([A-Z0-9][A-Z0-9\-]*\.)+[A-Z]{2,}$",
                    re.IGNORECASE | re.ASCII)


def is_valid_email(email: str) -> bool:
    """The one address rule (sign-up, sign-in, links, invites): ASCII, zod's pattern, at most 254 chars."""
    return len(email) <= MAX_EMAIL_LENGTH and email.isascii() and bool(_EMAIL.match(email))


@dataclass(frozen=True, slots=True)
class User:
    id: str
    email: str
    name: str
    email_verified: bool
    image: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class Account:
    """One login method of a user. Email/password: ``provider_id="credential"``, ``account_id=user_id``."""

    id: str
    user_id: str
    provider_id: str
    account_id: str
    password_hash: str | None
    created_at: datetime
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class UserSettings:
    display_name: str
    email: str
    settings: dict[str, Any] = field(default_factory=dict)


class UserStore(Protocol):
    async def create_user(self, *, email: str, name: str = "", image: str | None = None,
                          email_verified: bool = False, password_hash: str | None = None,
                          audit: AuditRecord | None = None) -> User:
        """Insert a user with a new id. Raises ``DuplicateEmail`` if the normalised email exists (and
        writes no event). ``audit`` is completed with the new user as actor and target.

        With ``password_hash`` the credential account (``provider_id="credential"``, ``account_id`` = the
        new user id) is inserted in the same transaction: a user never exists half-created."""

    async def get_user(self, user_id: str) -> User | None:
        """The user, or None (also for an id that is not a UUID)."""

    async def get_user_by_email(self, email: str) -> User | None:
        """Case- and whitespace-insensitive lookup."""

    async def update_user(self, user_id: str, *, name: str | None = None, image: str | None = None,
                          email: str | None = None, email_verified: bool | None = None,
                          clear_image: bool = False, audit: AuditRecord | None = None) -> User | None:
        """Change the given fields only, bump ``updated_at``. None if the user does not exist (no event).
        Raises ``DuplicateEmail`` when ``email`` belongs to another user."""

    async def count_users(self) -> int:
        """How many users exist (the desktop bootstrap offers itself only at zero)."""

    async def link_account(self, *, user_id: str, provider_id: str, account_id: str,
                           password_hash: str | None = None) -> Account:
        """Insert a login method. Raises ``ConstraintViolation("unique")`` if (provider_id, account_id)
        is already linked, ``ConstraintViolation("foreign_key")`` for an unknown user."""

    async def get_account(self, provider_id: str, account_id: str) -> Account | None:
        """The account linked under (provider_id, account_id)."""

    async def get_credential(self, user_id: str) -> Account | None:
        """The user's email/password account (``provider_id="credential"``), if any."""

    async def set_password_hash(self, user_id: str, password_hash: str, *, audit: AuditRecord | None = None) -> None:
        """Create or replace the credential account's password hash (with ``audit``'s event)."""

    async def unlink_account(self, user_id: str, provider_id: str) -> bool:
        """Delete the user's login method(s) of ``provider_id`` (e.g. drop the password by unlinking
        ``"credential"``). False if there was none."""

    async def get_user_settings(self, user_id: str, app_id: str) -> UserSettings:
        """Stored settings for (user, app), or defaults derived from the user (name, email, {}).
        Does not write."""

    async def put_user_settings(self, user_id: str, app_id: str, *, display_name: str | None = None,
                                email: str | None = None,
                                settings: dict[str, Any] | None = None) -> UserSettings:
        """Overlay the given fields on the current (or derived) values and upsert. ``settings`` replaces."""

    async def delete_user_completely(self, user_id: str, *, audit: AuditRecord | None = None) -> bool:
        """Delete a user and everything that hangs off them, atomically, in this order:

        1. each non-deleted workspace where the user is the SOLE owner: promote the oldest editor
           (created_at, then user_id) to owner and make them ``created_by``; with no editor, hard-delete
           the workspace with its invites, settings, runtime and members;
        2. every workspace still ``created_by`` the user that has other members gets the best remaining
           member as ``created_by`` (owner > editor > viewer, then oldest, then user_id);
        3. the user's memberships are deleted; 4. their pending invites are deleted and ``created_by``
           is cleared on accepted ones; 5. workspaces still created by them are hard-deleted;
        6. their one-time tokens, 7. their credit rows (grants, purchases, reservations, ledger) and
        8. the user with accounts, sessions and settings are deleted;
        9. the user's personal audit events (``audit.is_personal``: outside any workspace) are deleted,
           workspace events stay with their ``actor_id``; then ``audit`` (completed with the user as
           target) is written.
        Returns False if the user did not exist (no event)."""
