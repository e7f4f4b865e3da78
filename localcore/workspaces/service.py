"""Workspace rules: the membership guard, workspaces, members, the lazily created default workspace and
the runtime (with the optional provisioner). No aiohttp, no SQL: the store contract and errors only.

- The guard's order is the contract's: id format (400) → workspace exists, live, this app (404) →
  membership (403 ``not_member``) → role (403 ``forbidden``).
- The default workspace is created lazily and race-free: a per-user ``asyncio.Lock`` in this process, the
  partial unique index across processes (a unique violation means another process won: re-list).
- Last-owner and "still an owner" checks for role changes and removals run inside the store under its
  lock, so two owners racing to demote or remove each other leave exactly one owner.
"""

from __future__ import annotations

import logging
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from typing import Any, TypeVar

from localcore.audit import audit_record
from localcore.auth import CacheView, IdentityCache
from localcore.clock import Clock
from localcore.config import Config
from localcore.contract.audit import AuditRecord
from localcore.contract.locks import KeyedLocks
from localcore.errors import Forbidden, HttpError, NotFound, ValidationFailed
from localcore.store import (
    ROLE_LEVEL,
    Backend,
    ConstraintViolation,
    Member,
    MembershipError,
    MemberWithUser,
    User,
    Workspace,
    WorkspaceRuntime,
)
from localcore.workspaces.provisioner import ProvisionRequest, WorkspaceProvisioner

T = TypeVar("T")

log = logging.getLogger("localcore.workspaces")

DEFAULT_WORKSPACE_NAME = "Default workspace"
_WORKSPACE_ID = re.compile(r"[A-Za-z0-9_-]{1,128}")


@dataclass(frozen=True, slots=True)
class Access:
    """A caller's membership of a live workspace of this app."""

    workspace: Workspace
    user: User
    role: str


def _membership_error(exc: MembershipError, *, removing: bool) -> HttpError:
    if exc.code == "not_member":
        return NotFound("User is not a member of this workspace", code="not_member")
    if exc.code == "last_owner":
        return HttpError(409, "last_owner", "Cannot remove the last owner" if removing
                         else "Cannot demote the last owner")
    return Forbidden("Only owners can remove other members" if removing else "Requires owner role or higher")


class WorkspaceService:
    def __init__(self, backend: Backend, config: Config, clock: Clock,
                 provisioner: WorkspaceProvisioner | None = None, *, cache: IdentityCache | None = None) -> None:
        #: The auth feature's identity cache: memberships and workspace lists are read through it (the
        #: backend's identity version moves on every workspace and membership write, so a role change
        #: takes effect at once on every process).
        self.cache = cache
        self.store = backend.workspaces
        self.users = backend.users
        self.app_id = config.app_id
        self.clock = clock
        self.provisioner = provisioner
        self._creating = KeyedLocks()

    # ------------------------------------------------------------------ the guard

    async def require_member(self, workspace_id: str, user: User, min_role: str | None = None, *,
                             view: CacheView | None = None) -> Access:
        """``view``: the request's identity cache view (``localcore.auth.request_cache_view``), so the
        membership is read under the version the session was; without one the cache reads its own."""
        if not _WORKSPACE_ID.fullmatch(workspace_id):
            raise ValidationFailed("Invalid workspace id")
        found = await self._cached(view, ("member", workspace_id, user.id),
                                   lambda: self._membership(workspace_id, user.id))
        if found is None:
            raise NotFound("Workspace not found")
        workspace, role = found
        if role is None:
            raise Forbidden("Not a member of this workspace", code="not_member")
        if min_role is not None and ROLE_LEVEL[role] < ROLE_LEVEL[min_role]:
            raise Forbidden(f"Requires {min_role} role or higher")
        return Access(workspace, user, role)

    async def _cached(self, view: CacheView | None, key: tuple[str, ...],
                      load: Callable[[], Awaitable[T | None]]) -> T | None:
        if view is not None:
            return await view.get_or_load(key, load)
        if self.cache is not None:
            return await self.cache.get_or_load(key, load)
        return await load()

    async def _membership(self, workspace_id: str, user_id: str) -> tuple[Workspace, str | None] | None:
        """The workspace of this app (None if missing, deleted or another app's) and the user's role."""
        workspace = await self.store.get_workspace(workspace_id)
        if workspace is None or workspace.app_id != self.app_id:
            return None
        return workspace, await self.store.get_member_role(workspace.id, user_id)

    # ------------------------------------------------------------------ workspaces

    async def create(self, user: User, name: str) -> Workspace:
        """A new workspace owned by ``user``; it is their default iff they had none in this app."""
        async with self._creating.hold(f"{self.app_id}:{user.id}"):
            first = not await self.store.list_workspaces(user.id, self.app_id)
            workspace = None
            if first:
                try:
                    workspace = await self.store.create_workspace(user_id=user.id, name=name, app_id=self.app_id,
                                                                  is_default=True, audit=_created(user))
                except ConstraintViolation as exc:
                    if exc.kind != "unique":
                        raise
            if workspace is None:
                workspace = await self.store.create_workspace(user_id=user.id, name=name, app_id=self.app_id,
                                                              audit=_created(user))
        log.info("workspace.create workspace=%s user=%s", workspace.id, user.id)
        if self.provisioner is not None:
            await self._provision(workspace, owner_id=user.id)
        return workspace

    async def ensure_default(self, user: User) -> None:
        """``DefaultWorkspace`` for auth's post-sign-up hook: the new user's default workspace,
        provisioned like any other. A provisioning failure does not undo the sign-up: it is recorded on
        the workspace's runtime (``state: error``), where the runtime routes show and retry it."""
        try:
            await self._default_for(user)
        except HttpError as exc:
            if exc.code != "provision_failed":
                raise

    async def _default_for(self, user: User) -> list[Workspace]:
        """The user's workspaces, after creating (and provisioning) the default one when there are none:
        one per user even under races (this process: a per-user lock; other processes: the partial
        unique index, whose violation means another process won)."""
        async with self._creating.hold(f"{self.app_id}:{user.id}"):
            found = await self.store.list_workspaces(user.id, self.app_id)
            if found:
                return found
            try:
                workspace = await self.store.create_workspace(user_id=user.id, name=DEFAULT_WORKSPACE_NAME,
                                                              app_id=self.app_id, is_default=True,
                                                              audit=_created(user))
            except ConstraintViolation as exc:  # another process created it first
                if exc.kind != "unique":
                    raise
                return await self.store.list_workspaces(user.id, self.app_id)
            log.info("workspace.create workspace=%s user=%s default=true", workspace.id, user.id)
            if self.provisioner is not None:
                await self._provision(workspace, owner_id=user.id)
            return await self.store.list_workspaces(user.id, self.app_id)

    async def list_for(self, user: User, *, view: CacheView | None = None) -> list[Workspace]:
        """The user's workspaces in this app; creates the default one when there is none. ``view`` as
        for :meth:`require_member`."""
        if self.provisioner is not None:  # the provisioner checks runtimes each time
            found = await self.store.list_workspaces(user.id, self.app_id)
        else:
            found = await self._cached(view, ("workspaces", user.id, self.app_id),
                                       lambda: self.store.list_workspaces(user.id, self.app_id)) or []
        if not found:
            found = await self._default_for(user)
        if self.provisioner is not None:
            for workspace in found:
                if workspace.is_default:
                    await self._backfill(workspace)
        return found

    async def _backfill(self, workspace: Workspace) -> None:
        runtime = await self.store.get_workspace_runtime(workspace.id)
        if runtime is None or (runtime.state == "ready" and not runtime.volume_path):
            await self._provision(workspace, owner_id=workspace.created_by)

    async def rename(self, access: Access, name: str) -> Workspace:
        updated = await self.store.update_workspace(access.workspace.id, name=name, audit=_about_workspace(
            "workspace.update", access, details={"oldName": access.workspace.name, "newName": name}))
        if updated is None:
            raise NotFound("Workspace not found")
        return updated

    async def delete(self, access: Access) -> None:
        """Destroy the provisioned resources first (a failure keeps the workspace), then soft-delete."""
        workspace_id = access.workspace.id
        if self.provisioner is not None:
            try:
                await self.provisioner.destroy(workspace_id)
            except Exception as exc:  # noqa: BLE001 - any provisioner failure is reported the same way
                log.warning("workspace.destroy.failed workspace=%s error=%s", workspace_id, _reason(exc))
                await self.store.put_workspace_runtime(workspace_id, {
                    "state": "error", "last_error": _reason(exc), "last_error_op": "destroy"})
                raise HttpError(500, "destroy_failed", "Workspace destroy failed") from None
        if not await self.store.delete_workspace(workspace_id, audit=_about_workspace("workspace.delete", access)):
            raise NotFound("Workspace not found")
        log.info("workspace.delete workspace=%s user=%s", workspace_id, access.user.id)

    # ------------------------------------------------------------------ members

    async def members(self, access: Access) -> list[MemberWithUser]:
        return await self.store.list_members_with_users(access.workspace.id)

    async def add_member(self, access: Access, user_id: str, role: str) -> Member:
        try:
            member = await self.store.add_member(access.workspace.id, user_id, role, audit=_about_member(
                "member.add", access, user_id, details={"role": role}))
        except ConstraintViolation as exc:
            if exc.kind == "unique":
                raise HttpError(409, "validation_failed", "User is already a member of this workspace") from None
            if exc.kind == "foreign_key":
                raise NotFound("User not found") from None
            raise
        log.info("workspace.member.add workspace=%s user=%s role=%s by=%s", access.workspace.id, user_id, role,
                 access.user.id)
        return member

    async def change_role(self, access: Access, user_id: str, role: str) -> Member:
        try:
            member = await self.store.update_member_role(access.workspace.id, user_id, role,
                                                         actor_id=access.user.id,
                                                         audit=_about_member("member.role_change", access, user_id))
        except MembershipError as exc:
            raise _membership_error(exc, removing=False) from None
        log.info("workspace.member.role workspace=%s user=%s role=%s by=%s", access.workspace.id, user_id, role,
                 access.user.id)
        return member

    async def remove_member(self, access: Access, user_id: str) -> None:
        """Owners remove anyone; every member may remove themselves (leave)."""
        if user_id != access.user.id and access.role != "owner":
            raise Forbidden("Only owners can remove other members")
        try:
            await self.store.remove_member(access.workspace.id, user_id, actor_id=access.user.id,
                                           audit=_about_member("member.remove", access, user_id))
        except MembershipError as exc:
            raise _membership_error(exc, removing=True) from None
        log.info("workspace.member.remove workspace=%s user=%s by=%s", access.workspace.id, user_id, access.user.id)

    # ------------------------------------------------------------------ runtime

    async def runtime(self, access: Access) -> WorkspaceRuntime:
        runtime = await self.store.get_workspace_runtime(access.workspace.id)
        if runtime is None:
            raise NotFound("Workspace not found")
        return runtime

    async def retry_runtime(self, access: Access) -> WorkspaceRuntime:
        """Re-run a failed provision (only ``error`` after ``provision``), as the calling owner."""
        runtime = await self.store.get_workspace_runtime(access.workspace.id) if self.provisioner else None
        if runtime is None:
            raise HttpError(409, "runtime_unmanaged", "No managed runtime for this workspace")
        if runtime.state != "error" or runtime.last_error_op != "provision":
            raise HttpError(409, "invalid_retry_state",
                            f"Runtime is {runtime.state}; only a failed provision can be retried")
        return await self._provision(access.workspace, owner_id=access.user.id,
                                     audit=_about_workspace("runtime.retry", access))

    async def _provision(self, workspace: Workspace, *, owner_id: str,
                         audit: AuditRecord | None = None) -> WorkspaceRuntime:
        """``audit`` (a retry's event) goes with the first write, the move to ``pending``."""
        assert self.provisioner is not None
        await self.store.put_workspace_runtime(workspace.id, {"state": "pending", "last_error": None,
                                                              "last_error_op": None}, audit=audit)
        request = ProvisionRequest(workspace_id=workspace.id, workspace_name=workspace.name, owner_id=owner_id,
                                   app_id=workspace.app_id)
        try:
            volume_path = await self.provisioner.provision(request)
        except Exception as exc:  # noqa: BLE001 - any provisioner failure is reported the same way
            log.warning("workspace.provision.failed workspace=%s error=%s", workspace.id, _reason(exc))
            await self.store.put_workspace_runtime(workspace.id, {
                "state": "error", "last_error": _reason(exc), "last_error_op": "provision"})
            raise HttpError(500, "provision_failed", "Workspace provisioning failed") from None
        return await self.store.put_workspace_runtime(workspace.id, {
            "state": "ready", "volume_path": volume_path, "last_error": None, "last_error_op": None})


def _created(user: User) -> AuditRecord:
    """``workspace.create``; the store fills in the new workspace."""
    return audit_record("workspace.create", actor_id=user.id)


def _about_workspace(action: str, access: Access, *, details: dict[str, Any] | None = None) -> AuditRecord:
    return audit_record(action, actor_id=access.user.id, workspace_id=access.workspace.id,
                        target_type="workspace", target_id=access.workspace.id, details=details)


def _about_member(action: str, access: Access, user_id: str, *,
                  details: dict[str, Any] | None = None) -> AuditRecord:
    return audit_record(action, actor_id=access.user.id, workspace_id=access.workspace.id, target_type="user",
                        target_id=user_id, details=details)


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__
