"""The errors a store raises. Features translate them into HTTP answers; nothing else is expected from a
backend (a driver error is a fault of the storage, reported as such by the HTTP layer)."""

from __future__ import annotations


class StoreError(Exception):
    """Base of errors raised by a backend."""


class ConstraintViolation(StoreError):
    """A uniqueness, foreign-key, check or not-null rule of the data model was violated.

    ``kind`` is one of ``"unique"``, ``"foreign_key"``, ``"check"``, ``"not_null"``.
    """

    def __init__(self, kind: str, message: str = "") -> None:
        super().__init__(message or kind)
        self.kind = kind


class DuplicateEmail(ConstraintViolation):
    """A user with this (normalised) email already exists."""

    def __init__(self) -> None:
        super().__init__("unique", "email already exists")


class MembershipError(StoreError):
    """A membership change was refused; ``code`` is ``"not_member"``, ``"last_owner"`` or ``"forbidden"``
    (the acting user is no longer allowed, seen under the same lock)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class InviteError(StoreError):
    """``accept_invite`` refused; ``code`` is ``"invite_not_found"``, ``"invite_already_accepted"``,
    ``"invite_expired"`` or ``"invite_email_mismatch"``."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


class StorageUnavailable(StoreError):
    """The storage cannot be reached right now (connection refused or lost, a connect timeout, the server
    shutting down). Transient: nothing was changed, the HTTP layer answers 503 ``db_unavailable``, and the
    next operation tries again."""


class StorageBusy(StoreError):
    """Another writer held the storage's write lock past the busy timeout (SQLite). Nothing was changed;
    the HTTP layer answers 503 ``db_busy``."""
