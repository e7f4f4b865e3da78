"""HTTP for workspaces, members, settings and the runtime: ``/api/v1/workspaces`` and below, invites aside.

Each handler: the guard (``require_member`` with the row's minimum role), then the body, then one service
call, then the response model. Invite routes live in ``routes_invites``.
"""

from __future__ import annotations

from aiohttp import web

from localcore.auth import request_cache_view
from localcore.clock import iso
from localcore.errors import Forbidden, HttpError, NotFound, ValidationFailed
from localcore.http.identity import require_identity
from localcore.http.openapi import RouteCatalog
from localcore.http.validation import parse_body
from localcore.workspaces import models as m
from localcore.workspaces.keys import WORKSPACES
from localcore.workspaces.service import Access
from localcore.workspaces.settings import SettingMeta
from localcore.workspaces.views import (
    json_out,
    member_out,
    member_with_user_out,
    runtime_out,
    workspace_out,
)

TAG = "workspaces"
BASE = "/api/v1/workspaces"


def guard_errors(min_role: str | None = None) -> tuple[HttpError, ...]:
    """What :func:`access` refuses with, for a route that needs ``min_role``."""
    refused = (ValidationFailed("Invalid workspace id"), NotFound("Workspace not found"),
               Forbidden("Not a member of this workspace", code="not_member"))
    return (*refused, Forbidden(f"Requires {min_role} role or higher")) if min_role else refused



async def access(request: web.Request, min_role: str | None = None) -> Access:
    """The workspace guard for ``{id}`` in the path, in upstream's order: a valid id (400), the workspace
    exists in this app (404), the caller is a member (403 ``not_member``), with ``min_role`` at least (403)."""
    user = (await require_identity(request)).user
    return await request.app[WORKSPACES].workspaces.require_member(request.match_info["id"], user, min_role,
                                                                   view=request_cache_view(request))


# ----------------------------------------------------------------------------- workspaces


async def create_workspace(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    body = await parse_body(request, m.CreateWorkspaceBody)
    workspace = await request.app[WORKSPACES].workspaces.create(user, body.name)
    return json_out(m.WorkspaceWithRoleOut(workspace=workspace_out(workspace), role="owner"), status=201)


async def list_workspaces(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    found = await request.app[WORKSPACES].workspaces.list_for(user, view=request_cache_view(request))
    return json_out(m.WorkspacesOut(workspaces=[workspace_out(w) for w in found]))


async def get_workspace(request: web.Request) -> web.Response:
    granted = await access(request)
    return json_out(m.WorkspaceWithRoleOut.model_validate(
        {"workspace": workspace_out(granted.workspace), "role": granted.role}))


async def update_workspace(request: web.Request) -> web.Response:
    granted = await access(request, "editor")
    body = await parse_body(request, m.UpdateWorkspaceBody)
    assert body.name is not None
    workspace = await request.app[WORKSPACES].workspaces.rename(granted, body.name)
    return json_out(m.WorkspaceOnlyOut(workspace=workspace_out(workspace)))


async def delete_workspace(request: web.Request) -> web.Response:
    granted = await access(request, "owner")
    await request.app[WORKSPACES].workspaces.delete(granted)
    return json_out(m.DeletedOut(deleted=True))


# ----------------------------------------------------------------------------- members


async def list_members(request: web.Request) -> web.Response:
    granted = await access(request)
    members = await request.app[WORKSPACES].workspaces.members(granted)
    return json_out(m.MembersOut(members=[member_with_user_out(e) for e in members]))


async def add_member(request: web.Request) -> web.Response:
    granted = await access(request, "owner")
    body = await parse_body(request, m.AddMemberBody)
    member = await request.app[WORKSPACES].workspaces.add_member(granted, body.userId, body.role)
    return json_out(m.MemberEnvelopeOut(member=member_out(member)), status=201)


async def change_role(request: web.Request) -> web.Response:
    granted = await access(request, "owner")
    body = await parse_body(request, m.RoleBody)
    member = await request.app[WORKSPACES].workspaces.change_role(granted, request.match_info["userId"], body.role)
    return json_out(m.MemberEnvelopeOut(member=member_out(member)))


async def remove_member(request: web.Request) -> web.Response:
    granted = await access(request)
    await request.app[WORKSPACES].workspaces.remove_member(granted, request.match_info["userId"])
    return json_out(m.RemovedOut(removed=True))


# ----------------------------------------------------------------------------- settings and runtime


def _settings_out(settings: list[SettingMeta]) -> m.SettingsOut:
    return m.SettingsOut(settings=[m.SettingMetaOut(key=s.key, configured=s.configured,
                                                    updated_at=iso(s.updated_at) or "") for s in settings])


async def get_settings(request: web.Request) -> web.Response:
    granted = await access(request)
    return json_out(_settings_out(await request.app[WORKSPACES].settings.metadata(granted.workspace.id)))


async def put_settings(request: web.Request) -> web.Response:
    granted = await access(request, "editor")
    body = await parse_body(request, m.SettingsBody)
    return json_out(_settings_out(await request.app[WORKSPACES].settings.put(granted.workspace.id, body.root,
                                                                             actor_id=granted.user.id)))


async def delete_setting(request: web.Request) -> web.Response:
    granted = await access(request, "editor")
    if not await request.app[WORKSPACES].settings.delete(granted.workspace.id, request.match_info["key"],
                                                         actor_id=granted.user.id):
        raise NotFound("Setting not found")
    return json_out(m.DeletedOut(deleted=True))


async def get_runtime(request: web.Request) -> web.Response:
    granted = await access(request)
    runtime = await request.app[WORKSPACES].workspaces.runtime(granted)
    return json_out(m.RuntimeEnvelopeOut(runtime=runtime_out(runtime)))


async def retry_runtime(request: web.Request) -> web.Response:
    granted = await access(request, "owner")
    runtime = await request.app[WORKSPACES].workspaces.retry_runtime(granted)
    return json_out(m.RuntimeEnvelopeOut(runtime=runtime_out(runtime)))


def setup_workspace_routes(app: web.Application, catalog: RouteCatalog) -> None:
    r = app.router
    one = f"{BASE}/{{id}}"
    provision_failed = HttpError(500, "provision_failed", "Workspace provisioning failed")  # with a provisioner
    not_a_member = NotFound("User is not a member of this workspace", code="not_member")
    catalog.add(r, "POST", BASE, create_workspace, tag=TAG, body=m.CreateWorkspaceBody,
                response=m.WorkspaceWithRoleOut, auth=True,
                summary="Create a workspace (201); the caller becomes owner; default iff it is their first",
                raises=[provision_failed], status=201)
    catalog.add(r, "GET", BASE, list_workspaces, tag=TAG, response=m.WorkspacesOut, auth=True,
                summary="The caller's workspaces in this app (creates 'Default workspace' when there is none)",
                raises=[provision_failed])
    catalog.add(r, "GET", one, get_workspace, tag=TAG, response=m.WorkspaceWithRoleOut, auth=True,
                summary="A workspace and the caller's role (member)", raises=guard_errors())
    catalog.add(r, "PUT", one, update_workspace, tag=TAG, body=m.UpdateWorkspaceBody, response=m.WorkspaceOnlyOut,
                auth=True, summary="Rename a workspace (editor)", raises=guard_errors("editor"))
    catalog.add(r, "DELETE", one, delete_workspace, tag=TAG, response=m.DeletedOut, auth=True,
                summary="Soft-delete a workspace (owner); with a provisioner, destroy runs first",
                raises=[*guard_errors("owner"), HttpError(500, "destroy_failed", "Workspace destroy failed")])
    catalog.add(r, "GET", f"{one}/members", list_members, tag=TAG, response=m.MembersOut, auth=True,
                summary="Members with their users (member)", raises=guard_errors())
    catalog.add(r, "POST", f"{one}/members", add_member, tag=TAG, body=m.AddMemberBody,
                response=m.MemberEnvelopeOut, auth=True, summary="Add a member directly (owner; 201)",
                raises=[*guard_errors("owner"), NotFound("User not found"),
                        HttpError(409, "validation_failed", "User is already a member of this workspace")],
                status=201)
    catalog.add(r, "PATCH", f"{one}/members/{{userId}}/role", change_role, tag=TAG, body=m.RoleBody,
                response=m.MemberEnvelopeOut, auth=True, summary="Change a member's role (owner)",
                raises=[*guard_errors("owner"), not_a_member,
                        HttpError(409, "last_owner", "Cannot demote the last owner")])
    catalog.add(r, "DELETE", f"{one}/members/{{userId}}", remove_member, tag=TAG, response=m.RemovedOut,
                auth=True, summary="Remove a member (owner) or leave (any member)",
                raises=[*guard_errors(), Forbidden("Only owners can remove other members"), not_a_member,
                        HttpError(409, "last_owner", "Cannot remove the last owner")])
    catalog.add(r, "GET", f"{one}/settings", get_settings, tag=TAG, response=m.SettingsOut, auth=True,
                summary="Setting keys with configured flags; values are never returned (member)",
                raises=guard_errors())
    catalog.add(r, "PUT", f"{one}/settings", put_settings, tag=TAG, body=m.SettingsBody, response=m.SettingsOut,
                auth=True, summary="Upsert encrypted settings (editor)", raises=guard_errors("editor"))
    catalog.add(r, "DELETE", f"{one}/settings/{{key}}", delete_setting, tag=TAG, response=m.DeletedOut,
                auth=True, summary="Delete one setting (editor)",
                raises=[*guard_errors("editor"), NotFound("Setting not found")])
    catalog.add(r, "GET", f"{one}/runtime", get_runtime, tag=TAG, response=m.RuntimeEnvelopeOut, auth=True,
                summary="The workspace runtime (created 'ready' on first read; member)", raises=guard_errors())
    catalog.add(r, "POST", f"{one}/runtime/retry", retry_runtime, tag=TAG, response=m.RuntimeEnvelopeOut,
                auth=True, summary="Retry a failed provision (owner)",
                raises=[*guard_errors("owner"),
                        HttpError(409, "runtime_unmanaged", "No managed runtime for this workspace"),
                        HttpError(409, "invalid_retry_state",
                                  "Runtime is ready; only a failed provision can be retried"),
                        provision_failed])
