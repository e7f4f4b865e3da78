"""The audit log feature: who did what, written with every change (``localcore.contract.audit``).

- ``audit_record`` (``context.py``): how a service builds the event it hands to a store write
  (``audit=``), stamped with the request's client;
- ``setup_audit`` (``routes.py``): ``GET /api/v1/workspaces/{id}/audit`` (owners) and
  ``GET /api/v1/me/activity`` (the caller's own events), and the retention sweep (``sweep.py``);
- ``python -m localcore audit`` (``cli.py``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from localcore.audit.context import audit_record, set_request_facts, user_event
from localcore.audit.http import request_context_guard

if TYPE_CHECKING:
    from aiohttp import web

    from localcore.http.openapi import RouteCatalog

__all__ = ["audit_record", "request_context_guard", "set_request_facts", "setup_audit", "user_event"]


def setup_audit(app: web.Application, catalog: RouteCatalog) -> None:
    """The two routes and the background retention sweep. Set up after the workspaces feature (the
    workspace route uses its owner guard)."""
    from localcore.audit.routes import setup_audit_routes
    from localcore.audit.sweep import audit_sweep_lifecycle

    setup_audit_routes(app, catalog)
    app.cleanup_ctx.append(audit_sweep_lifecycle)
