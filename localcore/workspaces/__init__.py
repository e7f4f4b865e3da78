"""Workspaces: workspaces, members, invites, encrypted settings and the optional provisioner.

``setup_workspaces(app, catalog, auth=...)`` wires it into an app built by ``create_app``, given the auth
service it plugs into: the services on ``app[WORKSPACES]``, every route through the OpenAPI catalog, and
the two post-sign-up seams of auth (accept the ``x-invite-token`` invite; else create the default
workspace, provisioned like any other).

Module map: ``service`` (guard, workspaces, members, runtime rules), ``invites`` (invite lifecycle and the
sign-up acceptor), ``settings`` + ``crypto`` (AES-GCM settings and key rotation), ``provisioner``
(filesystem provisioner), ``idempotency`` (``Idempotency-Key``), ``models``/``views`` (wire shapes),
``routes``/``routes_invites`` (HTTP only), ``cli`` (``rotate-settings-key``).
"""

from __future__ import annotations

from aiohttp import web

from localcore.appkeys import BACKEND, CLOCK, CONFIG, MAILER, RATE_LIMITER, require
from localcore.auth import AuthService
from localcore.http.openapi import RouteCatalog
from localcore.http.ratelimit import Rule, by_ip, by_ip_and_user, by_workspace
from localcore.workspaces.crypto import SettingsCipher
from localcore.workspaces.invites import InviteService
from localcore.workspaces.keys import WORKSPACES, WorkspaceFeature
from localcore.workspaces.provisioner import WorkspaceProvisioner, provisioner_from_config
from localcore.workspaces.routes import guard_errors, setup_workspace_routes
from localcore.workspaces.routes_invites import setup_invite_routes
from localcore.workspaces.service import WorkspaceService
from localcore.workspaces.settings import SettingsService

__all__ = ["WORKSPACES", "WORKSPACE_RATE_LIMITS", "WorkspaceFeature", "guard_errors", "setup_workspaces"]

#: Invite creation counts per workspace, and only once the caller is known to be an owner (``deferred``:
#: the route enforces it), so a refused caller cannot use up a workspace's budget.
WORKSPACE_RATE_LIMITS: tuple[Rule, ...] = (
    Rule("POST", "/api/v1/workspaces/:id/invites", 20, "1 hour", by_workspace, deferred=True),
    Rule("POST", "/api/v1/invites/resolve", 60, "1 minute", by_ip),
    Rule("POST", "/api/v1/invites/accept", 10, "1 minute", by_ip_and_user),
)


def setup_workspaces(app: web.Application, catalog: RouteCatalog, *, auth: AuthService,
                     provisioner: WorkspaceProvisioner | None = None) -> WorkspaceFeature:
    """Install the workspace services and routes on ``app`` and plug them into ``auth``. The provisioner
    defaults to the filesystem one when ``LOCALCORE_WORKSPACE_ROOT`` is set (see ``provisioner.py``)."""
    require(app, "workspaces", CONFIG, BACKEND, CLOCK, MAILER, RATE_LIMITER)
    config, backend, clock, mailer = app[CONFIG], app[BACKEND], app[CLOCK], app[MAILER]
    cipher = SettingsCipher(config.workspace_settings_encryption_key, config.workspace_settings_previous_keys)
    feature = WorkspaceFeature(
        workspaces=WorkspaceService(backend, config, clock, provisioner or provisioner_from_config(config),
                                    cache=auth.identity_cache),
        invites=InviteService(backend, config, clock, mailer),
        settings=SettingsService(backend.workspaces, cipher),
    )
    app[WORKSPACES] = feature
    app[RATE_LIMITER].add_rules(WORKSPACE_RATE_LIMITS)
    setup_workspace_routes(app, catalog)
    setup_invite_routes(app, catalog)
    auth.invite_acceptor = feature.invites
    auth.default_workspace = feature.workspaces
    return feature
