"""HTTP for invites: create (with ``Idempotency-Key``), list, revoke, both accept routes, and resolve.

The accept-in-workspace route is exempt from the membership guard (the invitee is not a member yet); the
token routes are not workspace-scoped at all. Rate limits attach by method and route template; invite creation
is counted only once the caller is known to be an owner, so a refused caller cannot use up a workspace's budget.
"""

from __future__ import annotations

from aiohttp import web

from localcore.appkeys import RATE_LIMITER
from localcore.clock import iso
from localcore.http.identity import require_identity
from localcore.http.openapi import RouteCatalog
from localcore.http.validation import parse_body, parse_query
from localcore.workspaces import models as m
from localcore.workspaces.idempotency import idempotent
from localcore.workspaces.keys import WORKSPACES
from localcore.workspaces.routes import BASE, GUARD_ERRORS, TAG, access
from localcore.workspaces.views import invite_out, json_out, member_out, workspace_out

INVITE_ERRORS = {404: "invite_not_found", 410: "invite_expired / invite_already_accepted",
                 403: "invite_email_mismatch", 423: "invite_locked", 429: "rate_limited"}


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
    catalog.add(r, "GET", invites, list_invites, tag=TAG, response=m.InvitesOut, auth=True,
                summary="Every invite of the workspace (member); never token hashes or lockout counters",
                responses=GUARD_ERRORS)
    catalog.add(r, "POST", invites, create_invite, tag=TAG, body=m.InviteBody, response=m.InviteCreatedOut,
                auth=True,
                summary="Invite by email (owner; 201). Optional Idempotency-Key header, scoped to user and "
                        "workspace. With mail off the answer carries acceptUrl and warning 'mail_disabled'",
                responses={**GUARD_ERRORS, 403: "forbidden / invites_disabled",
                           409: "idempotency_in_progress", 429: "rate_limited (20/h per workspace)"}, status=201)
    catalog.add(r, "DELETE", f"{invites}/{{inviteId}}", revoke_invite, tag=TAG, response=m.RevokedOut, auth=True,
                summary="Revoke (hard-delete) an invite (owner)",
                responses={**GUARD_ERRORS, 404: "not_found: Invite not found"})
    catalog.add(r, "POST", f"{invites}/{{inviteId}}/accept", accept_in_workspace, tag=TAG, query=m.AcceptQuery,
                response=m.InviteAcceptedOut, auth=True,
                summary="Accept an invite addressed to the caller's email (no membership needed)",
                responses={400: "validation_failed", **INVITE_ERRORS})
    catalog.add(r, "POST", "/api/v1/invites/resolve", resolve_invite, tag=TAG, body=m.TokenBody,
                response=m.InvitePreviewOut, auth=True,
                summary="Preview an invite by token (accepted and expired read as not found)",
                responses={400: "validation_failed", **INVITE_ERRORS})
    catalog.add(r, "POST", "/api/v1/invites/accept", accept_by_token, tag=TAG, body=m.TokenBody,
                response=m.TokenAcceptedOut, auth=True, summary="Accept an invite by token",
                responses={400: "validation_failed", **INVITE_ERRORS})
