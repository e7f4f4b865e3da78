"""better-auth's error codes on ``/auth/*``, with its statuses and messages: body ``{code, message}``."""

from __future__ import annotations

from localcore.errors import AuthError

_CODES: dict[str, tuple[int, str]] = {
    "VALIDATION_ERROR": (400, "Invalid request body"),
    "INVALID_EMAIL": (400, "Invalid email"),
    "PASSWORD_TOO_SHORT": (400, "Password too short"),
    "PASSWORD_TOO_LONG": (400, "Password too long"),
    "WEAK_PASSWORD": (400, "This password is too common. Please choose another."),
    "USER_ALREADY_EXISTS_USE_ANOTHER_EMAIL": (422, "User already exists. Use another email."),
    "FAILED_TO_CREATE_USER": (422, "Failed to create user"),
    "INVALID_EMAIL_OR_PASSWORD": (401, "Invalid email or password"),
    "INVALID_PASSWORD": (400, "Invalid password"),
    "INVALID_TOKEN": (400, "Invalid token"),
    "TOKEN_EXPIRED": (401, "Token expired"),
    "EXPIRED_TOKEN": (401, "Token expired"),
    "EMAIL_MISMATCH": (400, "Email mismatch"),
    "EMAIL_ALREADY_VERIFIED": (400, "Email is already verified"),
    "VERIFICATION_EMAIL_NOT_ENABLED": (400, "Verification email isn't enabled"),
    "RESET_PASSWORD_DISABLED": (400, "Reset password isn't enabled"),
    "CREDENTIAL_ACCOUNT_NOT_FOUND": (400, "Credential account not found"),
    "USER_ALREADY_HAS_PASSWORD": (400, "User already has a password. Please use the change password flow "
                                       "instead."),
    "EMAIL_CAN_NOT_BE_UPDATED": (400, "Email can not be updated"),
    "EMAIL_IS_THE_SAME": (400, "Email is the same"),
    "EMAIL_CHANGE_NOT_ALLOWED": (400, "A verified email address can not be changed here"),
    "NO_FIELDS_TO_UPDATE": (400, "No fields to update"),
    "UNAUTHORIZED": (401, "Unauthorized"),
    "PROVIDER_NOT_FOUND": (404, "Provider not found"),
    "NOT_FOUND": (404, "Not found"),
    "INVALID_CALLBACK_URL": (403, "Invalid callbackURL"),
    "INVALID_REDIRECT_URL": (403, "Invalid redirectURL"),
    "INVALID_ERROR_CALLBACK_URL": (403, "Invalid errorCallbackURL"),
    "INVALID_NEW_USER_CALLBACK_URL": (403, "Invalid newUserCallbackURL"),
    "BOOTSTRAP_LOOPBACK_ONLY": (403, "The setup link only works from this computer"),
    "BOOTSTRAP_UNAVAILABLE": (400, "This setup link is invalid, expired or was already used"),
    "MAIL_DELIVERY_FAILED": (502, "The email could not be sent. Please try again later."),
}


def auth_error(code: str, message: str | None = None, *, status: int | None = None) -> AuthError:
    """The ``AuthError`` for a known code, with upstream's status and message unless overridden (the same
    code has different statuses on different endpoints, e.g. ``INVALID_TOKEN``: 400 on reset, 401 on
    verification)."""
    default_status, default_message = _CODES[code]
    return AuthError(status or default_status, code, message or default_message)
