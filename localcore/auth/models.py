"""Request and response models of ``/auth/*`` and ``/api/v1/me`` (they also generate the OpenAPI document).

Auth bodies follow better-auth: unknown keys are ignored, types are strict (a number is not a string).
JSON field names are the wire names (camelCase), as upstream.
"""

from __future__ import annotations

from typing import Any

from pydantic import BaseModel, ConfigDict, StrictBool, StrictStr, field_validator


class _Body(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="ignore", frozen=True)


class _Strict(BaseModel):
    model_config = ConfigDict(defer_build=True, extra="forbid", frozen=True)


# ----------------------------------------------------------------------------- requests


class SignUpBody(_Body):
    name: StrictStr
    email: StrictStr
    password: StrictStr
    image: StrictStr | None = None
    callbackURL: StrictStr | None = None
    rememberMe: StrictBool | None = None


class SignInBody(_Body):
    email: StrictStr
    password: StrictStr
    callbackURL: StrictStr | None = None
    rememberMe: StrictBool | None = None


class EmptyBody(_Body):
    pass


class SessionQuery(_Body):
    disableCookieCache: str | None = None
    disableRefresh: str | None = None


class VerifyEmailQuery(_Body):
    token: str = ""
    callbackURL: str | None = None


class VerifyEmailBody(_Body):
    token: StrictStr
    callbackURL: StrictStr | None = None


class SendVerificationBody(_Body):
    email: StrictStr
    callbackURL: StrictStr | None = None


class RequestResetBody(_Body):
    email: StrictStr
    redirectTo: StrictStr | None = None


class ResetLinkQuery(_Body):
    callbackURL: str | None = None


class ResetPasswordBody(_Body):
    newPassword: StrictStr
    token: StrictStr | None = None


class MagicLinkBody(_Body):
    email: StrictStr
    name: StrictStr | None = None
    callbackURL: StrictStr | None = None
    newUserCallbackURL: StrictStr | None = None
    errorCallbackURL: StrictStr | None = None
    metadata: dict[str, Any] | None = None


class MagicLinkQuery(_Body):
    token: str = ""
    callbackURL: str | None = None
    newUserCallbackURL: str | None = None
    errorCallbackURL: str | None = None


class MagicLinkVerifyBody(_Body):
    token: StrictStr
    callbackURL: StrictStr | None = None
    newUserCallbackURL: StrictStr | None = None


class ChangePasswordBody(_Body):
    currentPassword: StrictStr
    newPassword: StrictStr
    revokeOtherSessions: StrictBool | None = None


class SetPasswordBody(_Body):
    newPassword: StrictStr


class ChangeEmailBody(_Body):
    newEmail: StrictStr
    callbackURL: StrictStr | None = None


class UpdateUserBody(_Body):
    name: StrictStr | None = None
    image: StrictStr | None = None
    email: Any = None


class RevokeSessionBody(_Body):
    token: StrictStr


class SocialSignInBody(_Body):
    provider: StrictStr
    callbackURL: StrictStr | None = None
    errorCallbackURL: StrictStr | None = None
    newUserCallbackURL: StrictStr | None = None
    disableRedirect: StrictBool | None = None
    scopes: list[StrictStr] | None = None
    idToken: Any = None


class OAuthCallbackQuery(_Body):
    code: str | None = None
    state: str | None = None
    error: str | None = None
    error_description: str | None = None


class BootstrapBody(_Body):
    token: StrictStr


class MeSettingsBody(_Strict):
    """``PUT /api/v1/me/settings``: strict; ``email`` and unknown keys are refused; ``settings`` replaces."""

    displayName: StrictStr | None = None
    settings: dict[str, Any] | None = None

    @field_validator("displayName", "settings", mode="before")
    @classmethod
    def _not_null(cls, value: Any) -> Any:
        if value is None:
            raise ValueError("Expected a value, received null")
        return value


class DeleteMeBody(_Body):
    confirm: StrictStr | None = None


# ----------------------------------------------------------------------------- responses


class UserOut(BaseModel):
    id: str
    name: str
    email: str
    emailVerified: bool
    image: str | None
    createdAt: str
    updatedAt: str


class SessionOut(BaseModel):
    id: str
    token: str
    userId: str
    expiresAt: str
    createdAt: str
    updatedAt: str
    ipAddress: str | None
    userAgent: str | None


class SessionWithUser(BaseModel):
    session: SessionOut
    user: UserOut


class TokenAndUser(BaseModel):
    token: str | None
    user: UserOut


class SignInOut(BaseModel):
    redirect: bool
    token: str
    url: str | None = None
    user: UserOut


class MagicLinkOut(BaseModel):
    token: str
    user: UserOut
    session: SessionOut
    url: str | None = None


class StatusOut(BaseModel):
    status: bool


class ResetRequestOut(BaseModel):
    status: bool
    message: str


class SuccessOut(BaseModel):
    success: bool


class SocialOut(BaseModel):
    url: str
    redirect: bool


class MeUser(BaseModel):
    id: str
    email: str
    name: str | None
    emailVerified: bool
    image: str | None


class MeSettings(BaseModel):
    displayName: str
    email: str
    settings: dict[str, Any]


class MeOut(BaseModel):
    user: MeUser
    settings: MeSettings


class DeletedOut(BaseModel):
    deleted: bool
