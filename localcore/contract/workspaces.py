"""Workspaces, members, invites, encrypted settings and runtimes: records and ``WorkspaceStore``.

The membership and invite rules the store applies under its locks are written once, in
``localcore.contract.rules_membership``.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any, Protocol, runtime_checkable

from localcore.contract.audit import AuditRecord


@dataclass(frozen=True, slots=True)
class Workspace:
    id: str
    app_id: str
    name: str
    created_by: str
    created_at: datetime
    deleted_at: datetime | None
    is_default: bool


@dataclass(frozen=True, slots=True)
class Member:
    workspace_id: str
    user_id: str
    role: str
    created_at: datetime


@dataclass(frozen=True, slots=True)
class MemberWithUser:
    """A membership joined with the member's user (``email``, ``name``, ``image``)."""

    member: Member
    email: str
    name: str
    image: str | None


@dataclass(frozen=True, slots=True)
class Invite:
    """A workspace invite. Only ``token_hash`` (hex SHA-256 of the raw token) is ever stored."""

    id: str
    workspace_id: str
    email: str
    token_hash: str
    role: str
    expires_at: datetime
    accepted_at: datetime | None
    created_by: str | None
    created_at: datetime
    failed_attempts: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class MintedInvite:
    """A new invite with its raw token: ``raw_token`` exists only here, in memory, for the caller to mail;
    only its hash (``localcore.contract.tokens.hash_token``) is persisted."""

    invite: Invite
    raw_token: str


@dataclass(frozen=True, slots=True)
class AcceptedInvite:
    invite: Invite
    member: Member


@dataclass(frozen=True, slots=True)
class FailedAttempts:
    failed_attempts: int
    locked_until: datetime | None


@dataclass(frozen=True, slots=True)
class StoredSetting:
    """One encrypted workspace setting: ``value`` is ciphertext sealed under the key named ``key_id``."""

    workspace_id: str
    key: str
    value: bytes
    key_id: str
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class WorkspaceRuntime:
    workspace_id: str
    state: str  # "pending" | "ready" | "error"
    updated_at: datetime
    sprite_url: str | None = None
    sprite_name: str | None = None
    last_error: str | None = None
    volume_path: str | None = None
    last_error_op: str | None = None  # "provision" | "destroy"
    sandbox_provider: str | None = None
    sandbox_id: str | None = None
    sandbox_status: str | None = None
    sandbox_snapshot_id: str | None = None
    sandbox_created_at: datetime | None = None
    sandbox_last_used_at: datetime | None = None
    sandbox_last_seen_at: datetime | None = None
    sandbox_expires_at: datetime | None = None
    provisioning_step: str | None = None
    step_started_at: datetime | None = None


#: The runtime fields ``put_workspace_runtime`` may change (everything but the key and ``updated_at``).
RUNTIME_FIELDS: tuple[str, ...] = (
    "state", "sprite_url", "sprite_name", "last_error", "volume_path", "last_error_op", "sandbox_provider",
    "sandbox_id", "sandbox_status", "sandbox_snapshot_id", "sandbox_created_at", "sandbox_last_used_at",
    "sandbox_last_seen_at", "sandbox_expires_at", "provisioning_step", "step_started_at",
)
INVITE_LOCK_THRESHOLD = 50
INVITE_LOCK_SECONDS = 3600


class WorkspaceStore(Protocol):
    """Every write below that takes ``audit`` writes that event in its own transaction, and none when it
    raises or changes nothing (returns None/False)."""

    async def create_workspace(self, *, user_id: str, name: str, app_id: str,
                               is_default: bool = False, audit: AuditRecord | None = None) -> Workspace:
        """Insert the workspace (created_by = user) and the owner membership in one transaction, with
        ``audit`` completed with the new workspace (``workspace_id``, target, ``details.name``).
        A second default for the same (creator, app) raises ``ConstraintViolation("unique")`` and leaves
        nothing behind."""

    async def list_workspaces(self, user_id: str, app_id: str) -> list[Workspace]:
        """Non-deleted workspaces of ``app_id`` the user is a member of: default first, then newest."""

    async def get_workspace(self, workspace_id: str) -> Workspace | None:
        """None if missing or soft-deleted (no app filter)."""

    async def get_member_role(self, workspace_id: str, user_id: str) -> str | None:
        """The user's role in the workspace, or None (ignores the deleted flag)."""

    async def update_workspace(self, workspace_id: str, *, name: str,
                               audit: AuditRecord | None = None) -> Workspace | None:
        """Rename a non-deleted workspace; None if it is missing or soft-deleted."""

    async def delete_workspace(self, workspace_id: str, *, audit: AuditRecord | None = None) -> bool:
        """Soft delete (sets ``deleted_at``; members, invites, settings and runtime stay). It also clears
        ``is_default``, so the creator can get a new default workspace later (the one-default-per-creator
        index would otherwise count the deleted one forever). False if missing or already deleted."""

    async def list_members_with_users(self, workspace_id: str) -> list[MemberWithUser]:
        """Members joined with their users, oldest membership first."""

    async def add_member(self, workspace_id: str, user_id: str, role: str, *,
                         audit: AuditRecord | None = None) -> Member:
        """Insert a new membership. Raises ``ConstraintViolation("unique")`` if the user is already a
        member, ``ConstraintViolation("foreign_key")`` for an unknown user or workspace (also a non-UUID
        id), ``ConstraintViolation("check")`` for an unknown role."""

    async def update_member_role(self, workspace_id: str, user_id: str, role: str, *,
                                 actor_id: str | None = None, audit: AuditRecord | None = None) -> Member:
        """Change a member's role, serialised with every other role change and removal in the workspace
        (Postgres: ``FOR UPDATE`` on the workspace's member rows; SQLite: ``BEGIN IMMEDIATE``; memory: the
        lock), under which ``rules_membership.check_role_change`` decides: the actor (if any) must still be
        an owner (``MembershipError("forbidden")``), the target a member (``"not_member"``), and the only
        owner cannot be demoted (``"last_owner"``). Setting the same role is allowed. ``audit`` is
        completed with ``details.oldRole``/``newRole``."""

    async def remove_member(self, workspace_id: str, user_id: str, *, actor_id: str | None = None,
                            audit: AuditRecord | None = None) -> None:
        """Delete a membership under the same serialisation as ``update_member_role``;
        ``rules_membership.check_removal`` decides (``"forbidden"``, ``"not_member"``, ``"last_owner"``).
        ``audit`` is completed with ``details.role`` (the removed role)."""

    async def create_invite(self, workspace_id: str, *, email: str, role: str, invited_by: str | None,
                            ttl_days: int = 7, audit: AuditRecord | None = None) -> MintedInvite:
        """Create an invite with a fresh ``new_token()``, storing only its ``hash_token``;
        the email is trimmed and lowercased; ``expires_at`` = clock + ``ttl_days``. Raises
        ``ConstraintViolation("foreign_key")`` for an unknown workspace (or inviter). ``audit`` is
        completed with the invite as target."""

    async def list_invites(self, workspace_id: str) -> list[Invite]:
        """Every invite of the workspace (pending, accepted, expired), oldest first."""

    async def get_invite_by_token_hash(self, token_hash: str) -> Invite | None:
        """Global lookup by the hex SHA-256 of the raw token."""

    async def revoke_invite(self, workspace_id: str, invite_id: str, *, audit: AuditRecord | None = None) -> bool:
        """Hard-delete the invite (scoped to the workspace); False if nothing was deleted."""

    async def accept_invite(self, workspace_id: str, invite_id: str, user_id: str, *,
                            audit: AuditRecord | None = None) -> AcceptedInvite:
        """One transaction. ``rules_membership.check_invite_acceptance`` raises ``InviteError`` with, in this
        order, ``invite_not_found`` (unknown invite, or its workspace is missing or soft-deleted),
        ``invite_already_accepted``, ``invite_expired``, ``invite_email_mismatch``. ``accepted_at`` is set
        only where it is still NULL; losing that race raises ``invite_already_accepted``. Then the
        membership is written with ``rules_membership.role_after_accepting`` (the invite's role, never
        lowering an existing member); ``audit`` is completed with ``details.role`` (the role now held)."""

    async def increment_invite_failed_attempts(self, invite_id: str) -> FailedAttempts:
        """Atomically add one failed attempt; when the new count reaches ``INVITE_LOCK_THRESHOLD`` (50)
        set ``locked_until`` = now + 1 hour (every later counted failure re-locks). Unknown id: (0, None)."""

    async def reset_invite_failed_attempts(self, invite_id: str) -> None:
        """Set the counter to 0 and clear the lock."""

    async def list_workspace_settings(self, workspace_id: str) -> list[StoredSetting]:
        """The workspace's settings (ciphertext and key id), ordered by key."""

    async def get_workspace_setting(self, workspace_id: str, key: str) -> StoredSetting | None:
        """One setting, or None."""

    async def put_workspace_settings(self, workspace_id: str, values: dict[str, tuple[bytes, str]], *,
                                     audit: AuditRecord | None = None) -> None:
        """Upsert every ``key -> (ciphertext, key_id)`` in one transaction, ``updated_at`` = now. Raises
        ``ConstraintViolation("foreign_key")`` for an unknown workspace."""

    async def delete_workspace_setting(self, workspace_id: str, key: str, *, audit: AuditRecord | None = None) -> bool:
        """Delete one setting; False if there was none (no event)."""

    async def list_all_workspace_settings(self) -> list[StoredSetting]:
        """Every stored setting of every workspace (key rotation), ordered by workspace then key."""

    async def replace_workspace_setting(self, workspace_id: str, key: str, *, expected: bytes, value: bytes,
                                        key_id: str) -> bool:
        """Compare-and-swap used by key rotation: store ``value``/``key_id`` only if the current ciphertext
        is still ``expected`` (a concurrent write wins). ``updated_at`` is kept. True if replaced."""

    async def get_workspace_runtime(self, workspace_id: str) -> WorkspaceRuntime | None:
        """The runtime; when the workspace exists (not deleted) but has none, a ``ready`` row with every
        optional field null is created and returned. None if the workspace is missing or deleted."""

    async def put_workspace_runtime(self, workspace_id: str, changes: dict[str, Any], *,
                                    audit: AuditRecord | None = None) -> WorkspaceRuntime:
        """Get-or-create the runtime, shallow-merge ``changes`` (keys from ``RUNTIME_FIELDS``; others raise
        ``ValueError``), set ``updated_at`` = now and store it. Raises ``LookupError`` if the workspace is
        missing or deleted."""


@runtime_checkable
class WorkspaceInspector(Protocol):
    """A read-only window on raw workspace rows for the contract suite and administrators; no service
    relies on it. Every bundled backend's ``backend.workspaces`` implements it beside ``WorkspaceStore``."""

    async def list_members(self, workspace_id: str) -> list[Member]:
        """Members of the workspace, oldest first (``created_at``, then ``user_id``)."""

    async def get_invite(self, workspace_id: str, invite_id: str) -> Invite | None:
        """The invite, scoped to the workspace (None for another workspace's invite or a non-UUID id)."""
