"""The membership, invite and account-deletion rules, written once: pure functions both kinds of backend
call under their own locks (memory: the state lock; SQL: the transaction, with ``FOR UPDATE`` on the rows
the rule reads). A backend reads the facts, asks the rule, and writes what it answers.

Roles rank ``owner`` > ``editor`` > ``viewer``. A workspace always keeps at least one owner.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime

from localcore.contract.errors import ConstraintViolation, InviteError, MembershipError
from localcore.contract.users import normalize_email

ROLES = ("owner", "editor", "viewer")
#: Higher is more. The only definition of role order: services compare with ``role_at_least``.
ROLE_LEVEL: Mapping[str, int] = {"viewer": 0, "editor": 1, "owner": 2}


def check_role(role: str) -> None:
    """An unknown role is a ``check`` constraint violation, as the SQL schema's CHECK makes it."""
    if role not in ROLE_LEVEL:
        raise ConstraintViolation("check", "role")


def role_at_least(role: str, minimum: str) -> bool:
    return ROLE_LEVEL[role] >= ROLE_LEVEL[minimum]


def _owners(roles: Mapping[str, str]) -> int:
    return sum(1 for role in roles.values() if role == "owner")


def check_role_change(roles: Mapping[str, str], user_id: str, new_role: str, *, actor_id: str | None) -> None:
    """May ``user_id`` get ``new_role``, given every member's current role (read under the workspace's
    lock)? In this order: the acting user (if any) must still be an owner (``forbidden``); the target must
    be a member (``not_member``); the only owner cannot be demoted (``last_owner``). Setting the same role
    is allowed."""
    check_role(new_role)
    if actor_id is not None and roles.get(actor_id) != "owner":
        raise MembershipError("forbidden")
    current = roles.get(user_id)
    if current is None:
        raise MembershipError("not_member")
    if current == "owner" and new_role != "owner" and _owners(roles) <= 1:
        raise MembershipError("last_owner")


def check_removal(roles: Mapping[str, str], user_id: str, *, actor_id: str | None) -> None:
    """May ``user_id`` leave or be removed? Someone other than the target must still be an owner
    (``forbidden``); the target must be a member (``not_member``); the only owner cannot go
    (``last_owner``)."""
    if actor_id is not None and actor_id != user_id and roles.get(actor_id) != "owner":
        raise MembershipError("forbidden")
    current = roles.get(user_id)
    if current is None:
        raise MembershipError("not_member")
    if current == "owner" and _owners(roles) <= 1:
        raise MembershipError("last_owner")


def check_invite_acceptance(*, found: bool, accepted_at: datetime | None, expires_at: datetime | None,
                            invite_email: str, user_email: str | None, now: datetime) -> None:
    """Can the invite be accepted by this user now? In this order: ``invite_not_found`` (unknown invite,
    or its workspace is missing or soft-deleted: ``found`` False), ``invite_already_accepted``,
    ``invite_expired`` (``expires_at <= now``), ``invite_email_mismatch`` (the user's normalised address
    differs, or the user is unknown)."""
    if not found or expires_at is None:
        raise InviteError("invite_not_found")
    if accepted_at is not None:
        raise InviteError("invite_already_accepted")
    if expires_at <= now:
        raise InviteError("invite_expired")
    if user_email is None or normalize_email(user_email) != normalize_email(invite_email):
        raise InviteError("invite_email_mismatch")


def role_after_accepting(existing: str | None, invited: str) -> str:
    """The member's role once the invite is accepted: the invite's role, but an existing member is never
    lowered by it (otherwise an owner could be demoted past the last-owner rule by an old invite)."""
    if existing is not None and ROLE_LEVEL[existing] >= ROLE_LEVEL[invited]:
        return existing
    return invited


# --------------------------------------------------------------------------- account deletion


@dataclass(frozen=True, slots=True)
class MemberFact:
    user_id: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class WorkspaceFact:
    """A workspace the departing user is a member or the creator of, with all its members."""

    id: str
    created_by: str
    deleted: bool
    members: tuple[MemberFact, ...]


@dataclass(frozen=True, slots=True)
class DeletionPlan:
    """What deleting an account does to workspaces, in the order a backend applies it:

    1. ``promotions``: (workspace, heir) — the heir becomes owner and ``created_by``;
    2. ``new_creators``: workspace -> member who becomes ``created_by``;
    3. ``hard_deletes``: workspaces removed with their members, invites, settings and runtime.

    Then, for every backend alike: the user's memberships go; their pending invites go and their accepted
    ones lose ``created_by``; their one-time tokens, credit rows, accounts, sessions, settings and the user
    row go."""

    promotions: tuple[tuple[str, str], ...]
    new_creators: tuple[tuple[str, str], ...]
    hard_deletes: tuple[str, ...]


def plan_account_deletion(user_id: str, workspaces: Iterable[WorkspaceFact]) -> DeletionPlan:
    """The workspace side of deleting ``user_id``:

    - each live workspace where the user is the SOLE owner passes to its oldest editor (``created_at``,
      then ``user_id``); with no editor, it is hard-deleted;
    - every other workspace the user created that keeps members gets the best remaining member as
      ``created_by`` (owner > editor > viewer, then oldest, then ``user_id``);
    - a workspace the user created that keeps nobody is hard-deleted."""
    promotions: list[tuple[str, str]] = []
    new_creators: list[tuple[str, str]] = []
    hard_deletes: list[str] = []
    for workspace in sorted(workspaces, key=lambda w: w.id):
        members = {m.user_id: m for m in workspace.members}
        mine = members.get(user_id)
        owners = [m for m in workspace.members if m.role == "owner"]
        if not workspace.deleted and mine is not None and mine.role == "owner" and len(owners) == 1:
            editors = sorted((m for m in workspace.members if m.role == "editor" and m.user_id != user_id),
                             key=lambda m: (m.created_at, m.user_id))
            if editors:
                promotions.append((workspace.id, editors[0].user_id))
            else:
                hard_deletes.append(workspace.id)
            continue
        if workspace.created_by != user_id:
            continue
        others = sorted((m for m in workspace.members if m.user_id != user_id),
                        key=lambda m: (-ROLE_LEVEL[m.role], m.created_at, m.user_id))
        if others:
            new_creators.append((workspace.id, others[0].user_id))
        else:
            hard_deletes.append(workspace.id)
    return DeletionPlan(tuple(promotions), tuple(new_creators), tuple(hard_deletes))
