"""The storage contract under its historical name: re-exports of ``localcore.contract`` (nothing is
defined here). New code imports from the ``localcore.contract`` submodules."""

from localcore.contract.backend import Backend
from localcore.contract.errors import ConstraintViolation, DuplicateEmail, InviteError, MembershipError, StoreError
from localcore.contract.idempotency import IdempotencyRecord, IdempotencyStore
from localcore.contract.ids import is_uuid, new_id
from localcore.contract.ratelimits import RateLimitHit, RateLimitStore
from localcore.contract.rules_membership import ROLE_LEVEL, ROLES
from localcore.contract.sessions import OneTimeToken, Session, SessionStore, TokenStore
from localcore.contract.users import (
    MAX_EMAIL_LENGTH,
    Account,
    User,
    UserSettings,
    UserStore,
    is_valid_email,
    normalize_email,
)
from localcore.contract.workspaces import (
    INVITE_LOCK_SECONDS,
    INVITE_LOCK_THRESHOLD,
    RUNTIME_FIELDS,
    AcceptedInvite,
    FailedAttempts,
    Invite,
    Member,
    MemberWithUser,
    MintedInvite,
    StoredSetting,
    Workspace,
    WorkspaceRuntime,
    WorkspaceStore,
)

__all__ = [
    "INVITE_LOCK_SECONDS", "INVITE_LOCK_THRESHOLD", "MAX_EMAIL_LENGTH", "ROLES", "ROLE_LEVEL", "RUNTIME_FIELDS",
    "AcceptedInvite", "Account", "Backend", "ConstraintViolation", "DuplicateEmail", "FailedAttempts",
    "IdempotencyRecord", "IdempotencyStore", "Invite", "InviteError", "Member", "MemberWithUser",
    "MembershipError", "MintedInvite", "OneTimeToken", "RateLimitHit", "RateLimitStore", "Session",
    "SessionStore", "StoreError", "StoredSetting", "TokenStore", "User", "UserSettings", "UserStore",
    "Workspace", "WorkspaceRuntime", "WorkspaceStore", "is_uuid", "is_valid_email", "new_id",
    "normalize_email",
]
