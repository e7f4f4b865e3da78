"""Request and response models of the workspace routes; they validate bodies and generate the OpenAPI.

Request bodies are strict like upstream's zod schemas (unknown keys → 400 ``validation_failed``) and carry
its messages ("Name is required", "At least one setting is required", …). Response models are upstream's
wire shapes (Workspace, WorkspaceMember, MemberWithUser, WorkspaceInvite, WorkspaceRuntime, setting metadata);
the views build every response through them.
"""

from __future__ import annotations

from typing import Annotated, Any, Literal

from pydantic import BaseModel, ConfigDict, Field, RootModel, StrictStr, field_validator, model_validator

from localcore.store import is_uuid, is_valid_email

RoleName = Literal["owner", "editor", "viewer"]
NAME_MAX = 100
SETTINGS_MAX = 50
SETTING_KEY_MAX = 128
SETTING_VALUE_MAX = 10_000


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


class _Out(BaseModel):
    model_config = ConfigDict(defer_build=True, frozen=True)


def _check_name(value: str) -> str:
    if not value:
        raise ValueError("Name is required")
    if len(value) > NAME_MAX:
        raise ValueError(f"Name must be {NAME_MAX} characters or fewer")
    return value


WorkspaceName = Annotated[StrictStr, Field(json_schema_extra={"minLength": 1, "maxLength": NAME_MAX})]


# ----------------------------------------------------------------------------- requests


class CreateWorkspaceBody(_Strict):
    name: WorkspaceName

    _name = field_validator("name")(_check_name)


class UpdateWorkspaceBody(_Strict):
    name: WorkspaceName | None = None

    @field_validator("name")
    @classmethod
    def _name(cls, value: str | None) -> str | None:
        return None if value is None else _check_name(value)

    @model_validator(mode="after")
    def _something(self) -> UpdateWorkspaceBody:
        if self.name is None:
            raise ValueError("At least one field must be provided")
        return self


class AddMemberBody(_Strict):
    userId: Annotated[StrictStr, Field(json_schema_extra={"format": "uuid"})]
    role: RoleName

    @field_validator("userId")
    @classmethod
    def _uuid(cls, value: str) -> str:
        if not is_uuid(value):
            raise ValueError("Invalid uuid")
        return value.lower()


class RoleBody(_Strict):
    role: RoleName


class InviteBody(_Strict):
    email: Annotated[StrictStr, Field(json_schema_extra={"format": "email", "maxLength": 254})]
    role: RoleName

    @field_validator("email")
    @classmethod
    def _email(cls, value: str) -> str:
        value = value.strip()
        if not is_valid_email(value):
            raise ValueError("Invalid email")
        return value


def _require(data: Any, name: str, message: str) -> Any:
    if isinstance(data, dict) and not data.get(name):
        raise ValueError(message)
    return data


class AcceptQuery(_Strict):
    invite_token: Annotated[StrictStr, Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        return _require(data, "invite_token", "invite_token query parameter is required")


class TokenBody(_Strict):
    token: Annotated[StrictStr, Field(min_length=1)]

    @model_validator(mode="before")
    @classmethod
    def _present(cls, data: Any) -> Any:
        return _require(data, "token", "token is required")


class SettingsBody(RootModel[dict[str, StrictStr]]):
    """A flat map of 1..50 ``key: value`` strings (keys 1..128 chars, values 1..10000 chars)."""

    model_config = ConfigDict(defer_build=True, frozen=True, json_schema_extra={
        "minProperties": 1, "maxProperties": SETTINGS_MAX,
        "propertyNames": {"minLength": 1, "maxLength": SETTING_KEY_MAX},
        "additionalProperties": {"type": "string", "minLength": 1, "maxLength": SETTING_VALUE_MAX},
    })

    @model_validator(mode="after")
    def _limits(self) -> SettingsBody:
        values = self.root
        if not values:
            raise ValueError("At least one setting is required")
        if len(values) > SETTINGS_MAX:
            raise ValueError(f"Maximum {SETTINGS_MAX} settings per request")
        problems = []
        for key, value in values.items():
            if not key:
                problems.append("Key must not be empty")
            elif len(key) > SETTING_KEY_MAX:
                problems.append(f"Key must be {SETTING_KEY_MAX} characters or fewer")
            if not value:
                problems.append(f"{key}: Value must not be empty")
            elif len(value) > SETTING_VALUE_MAX:
                problems.append(f"{key}: Value must be {SETTING_VALUE_MAX} characters or fewer")
        if problems:
            raise ValueError("; ".join(problems))
        return self


# ----------------------------------------------------------------------------- responses


class WorkspaceOut(_Out):
    id: str
    appId: str
    name: str
    createdBy: str
    createdAt: str
    deletedAt: str | None
    isDefault: bool


class WorkspaceWithRoleOut(_Out):
    workspace: WorkspaceOut
    role: RoleName


class WorkspaceOnlyOut(_Out):
    workspace: WorkspaceOut


class WorkspacesOut(_Out):
    workspaces: list[WorkspaceOut]


class DeletedOut(_Out):
    deleted: bool


class MemberOut(_Out):
    workspaceId: str
    userId: str
    role: RoleName
    createdAt: str


class MemberUserOut(_Out):
    id: str
    email: str
    name: str
    image: str | None


class MemberWithUserOut(MemberOut):
    user: MemberUserOut


class MembersOut(_Out):
    members: list[MemberWithUserOut]


class MemberEnvelopeOut(_Out):
    member: MemberOut


class RemovedOut(_Out):
    removed: bool


class InviteOut(_Out):
    """An invite as listings show it: never the token hash, the failure counter or the lock
    (docs/compatibility.md, fix 5)."""

    id: str
    workspaceId: str
    email: str
    role: RoleName
    expiresAt: str
    acceptedAt: str | None
    createdBy: str | None
    createdAt: str


class InvitesOut(_Out):
    invites: list[InviteOut]


class InviteCreatedOut(_Out):
    """With mail off, ``warning: "mail_disabled"`` and the ``acceptUrl`` the owner can pass on
    (docs/compatibility.md, fix 3)."""

    invite: InviteOut
    warning: Literal["mail_disabled"] | None = None
    acceptUrl: str | None = None


class RevokedOut(_Out):
    revoked: bool


class InviteAcceptedOut(_Out):
    invite: InviteOut
    member: MemberOut


class TokenAcceptedOut(_Out):
    workspace: WorkspaceOut | None
    member: MemberOut


class InvitePreviewOut(_Out):
    workspaceName: str
    role: RoleName
    expiresAt: str


class SettingMetaOut(_Out):
    key: str
    configured: bool
    updated_at: str


class SettingsOut(_Out):
    settings: list[SettingMetaOut]


class RuntimeOut(_Out):
    workspaceId: str
    spriteUrl: str | None
    spriteName: str | None
    state: Literal["pending", "ready", "error"]
    lastError: str | None
    volumePath: str | None
    lastErrorOp: Literal["provision", "destroy"] | None
    sandboxProvider: str | None
    sandboxId: str | None
    sandboxStatus: str | None
    sandboxSnapshotId: str | None
    sandboxCreatedAt: str | None
    sandboxLastUsedAt: str | None
    sandboxLastSeenAt: str | None
    sandboxExpiresAt: str | None
    provisioningStep: str | None
    stepStartedAt: str | None
    updatedAt: str


class RuntimeEnvelopeOut(_Out):
    runtime: RuntimeOut


def dump(model: BaseModel) -> dict[str, Any]:
    """The wire JSON; optional keys that were never given (``warning``, ``acceptUrl``) are left out."""
    return model.model_dump(mode="json", exclude_unset=True)
