"""HTTP for invites: create (with ``Idempotency-Key``), list, revoke, both accept routes, and resolve.

The accept-in-workspace route is exempt from the membership guard (the invitee is not a member yet); the
token routes are not workspace-scoped at all. Rate limits attach by method and route template; invite creation
is counted only once the caller is known to be an owner, so a refused caller cannot use up a workspace's budget.
"""

from __future__ import annotations

from aiohttp import web

from localcore.appkeys import RATE_LIMITER
from localcore.clock import iso
from localcore.errors import Forbidden, HttpError, NotFound, ValidationFailed
from localcore.http.identity import require_identity
from localcore.http.openapi import Param, RouteCatalog
from localcore.http.validation import parse_body, parse_query
from localcore.workspaces import models as m
from localcore.workspaces.idempotency import HEADER as IDEMPOTENCY_KEY
from localcore.workspaces.idempotency import MAX_KEY_LENGTH, idempotent
from localcore.workspaces.invites import invite_error
from localcore.workspaces.keys import WORKSPACES
from localcore.workspaces.routes import BASE, TAG, access, guard_errors
from localcore.workspaces.views import invite_out, json_out, member_out, workspace_out


async def list_invites(request: web.Request) -> web.Response:
    granted = await access(request)
    invites = await request.app[WORKSPACES].invites.list_invites(granted)
    return json_out(m.InvitesOut(invites=[invite_out(i) for i in invites]))


async def create_invite(request: web.Request) -> web.Response:
    granted = await access(request, "owner")
    invites = request.app[WORKSPACES].invites
    invites.ensure_enabled()
    # 20/h per workspace, counted only for owners (a non-member cannot use up the owner's budget).
    await request.app[RATE_LIMITER].enforce(request)

    async def run() -> web.Response:
        body = await parse_body(request, m.InviteBody)
        created = await invites.create(granted, email=body.email, role=body.role)
        out = (m.InviteCreatedOut(invite=invite_out(created.invite)) if created.accept_url is None
               else m.InviteCreatedOut(invite=invite_out(created.invite), warning="mail_disabled",
                                       acceptUrl=created.accept_url))
        return json_out(out, status=201)

    return await idempotent(request, f"invites:{granted.user.id}:{granted.workspace.id}", run)


async def revoke_invite(request: web.Request) -> web.Response:
    granted = await access(request, "owner")
    await request.app[WORKSPACES].invites.revoke(granted, request.match_info["inviteId"])
    return json_out(m.RevokedOut(revoked=True))


async def accept_in_workspace(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    query = parse_query(request, m.AcceptQuery)
    accepted = await request.app[WORKSPACES].invites.accept_in_workspace(
        user, request.match_info["id"], request.match_info["inviteId"], query.invite_token)
    return json_out(m.InviteAcceptedOut(invite=invite_out(accepted.invite), member=member_out(accepted.member)))


async def resolve_invite(request: web.Request) -> web.Response:
    await require_identity(request)
    body = await parse_body(request, m.TokenBody, allow_empty=True)
    preview = await request.app[WORKSPACES].invites.resolve(body.token)
    return json_out(m.InvitePreviewOut.model_validate({"workspaceName": preview.workspace_name, "role": preview.role,
                                                       "expiresAt": iso(preview.expires_at)}))


async def accept_by_token(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    body = await parse_body(request, m.TokenBody, allow_empty=True)
    workspace, member = await request.app[WORKSPACES].invites.accept_token(user, body.token)
    return json_out(m.TokenAcceptedOut(workspace=workspace_out(workspace) if workspace else None,
                                       member=member_out(member)))


def setup_invite_routes(app: web.Application, catalog: RouteCatalog) -> None:
    r = app.router
    invites = f"{BASE}/{{id}}/invites"
    accepting = [invite_error(code) for code in ("invite_not_found", "invite_locked", "invite_already_accepted",
                                                 "invite_expired", "invite_email_mismatch")]
    catalog.add(r, "GET", invites, list_invites, tag=TAG, response=m.InvitesOut, auth=True,
                summary="Every invite of the workspace (member); never token hashes or lockout counters",
                raises=guard_errors())
    catalog.add(r, "POST", invites, create_invite, tag=TAG, body=m.InviteBody, response=m.InviteCreatedOut,
                auth=True,
                summary="Invite by email (owner; 201; 20 an hour per workspace). Optional Idempotency-Key header, "
                        "scoped to user and workspace. With mail off the answer carries acceptUrl and warning "
                        "'mail_disabled'",
                params=[Param(IDEMPOTENCY_KEY, "header", "Replays the first answer for 24 h (at most "
                              f"{MAX_KEY_LENGTH} characters)")],
                raises=[*guard_errors("owner"),
                        Forbidden("Invites are disabled on this server", code="invites_disabled"),
                        ValidationFailed(f"{IDEMPOTENCY_KEY} must be {MAX_KEY_LENGTH} characters or fewer"),
                        HttpError(409, "idempotency_in_progress",
                                  f"A request with this {IDEMPOTENCY_KEY} is still in progress; retry later")],
                status=201)
    catalog.add(r, "DELETE", f"{invites}/{{inviteId}}", revoke_invite, tag=TAG, response=m.RevokedOut, auth=True,
                summary="Revoke (hard-delete) an invite (owner)",
                raises=[*guard_errors("owner"), NotFound("Invite not found")])
    catalog.add(r, "POST", f"{invites}/{{inviteId}}/accept", accept_in_workspace, tag=TAG, query=m.AcceptQuery,
                response=m.InviteAcceptedOut, auth=True,
                summary="Accept an invite addressed to the caller's email (no membership needed)", raises=accepting)
    catalog.add(r, "POST", "/api/v1/invites/resolve", resolve_invite, tag=TAG, body=m.TokenBody,
                response=m.InvitePreviewOut, auth=True,
                summary="Preview an invite by token (accepted and expired read as not found)",
                raises=accepting[:2])
    catalog.add(r, "POST", "/api/v1/invites/accept", accept_by_token, tag=TAG, body=m.TokenBody,
                response=m.TokenAcceptedOut, auth=True, summary="Accept an invite by token", raises=accepting)
