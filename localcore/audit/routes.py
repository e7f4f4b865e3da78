"""HTTP for the audit log: a workspace's events (owners) and the caller's own activity.

``GET /api/v1/workspaces/{id}/audit`` uses the workspaces feature's guard, so it refuses exactly like
the other owner routes (400 malformed id, 404 missing, 403 ``not_member``, 403 ``forbidden``).
"""

from __future__ import annotations

from aiohttp import web

from localcore.appkeys import BACKEND, CONFIG
from localcore.audit.models import AuditPageOut, AuditQuery
from localcore.audit.service import AuditService
from localcore.auth.cookies import request_cache_view
from localcore.errors import ValidationFailed
from localcore.http.identity import require_identity
from localcore.http.openapi import RouteCatalog
from localcore.http.validation import parse_query
from localcore.workspaces import WORKSPACES, guard_errors

AUDIT_SERVICE = web.AppKey("audit_service", AuditService)
TAG = "audit"


def _json(page: AuditPageOut) -> web.Response:
    return web.json_response(page.model_dump(mode="json"), headers={"Cache-Control": "no-store"})


async def workspace_audit(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    granted = await request.app[WORKSPACES].workspaces.require_member(request.match_info["id"], user, "owner",
                                                                      view=request_cache_view(request))
    query = parse_query(request, AuditQuery)
    return _json(await request.app[AUDIT_SERVICE].workspace_page(granted.workspace.id, limit=query.limit,
                                                                 before=query.before))


async def my_activity(request: web.Request) -> web.Response:
    user = (await require_identity(request)).user
    query = parse_query(request, AuditQuery)
    return _json(await request.app[AUDIT_SERVICE].user_page(user.id, limit=query.limit, before=query.before))


def setup_audit_routes(app: web.Application, catalog: RouteCatalog) -> None:
    app[AUDIT_SERVICE] = AuditService(app[BACKEND], app[CONFIG].auth.secret)
    bad_query = (ValidationFailed("limit: Input should be less than or equal to 200"),
                 ValidationFailed("Invalid cursor"))
    catalog.add(app.router, "GET", "/api/v1/workspaces/{id}/audit", workspace_audit, tag=TAG, query=AuditQuery,
                response=AuditPageOut, auth=True,
                summary="The workspace's audit log, newest first, paged by cursor (owner)",
                raises=[*guard_errors("owner"), *bad_query])
    catalog.add(app.router, "GET", "/api/v1/me/activity", my_activity, tag=TAG, query=AuditQuery,
                response=AuditPageOut, auth=True,
                summary="The caller's own activity (their sign-ins and account changes, and events they did "
                        "or were the target of), newest first, paged by cursor",
                raises=list(bad_query))
