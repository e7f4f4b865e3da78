"""Typed app state of the workspaces feature."""

from __future__ import annotations

from dataclasses import dataclass

from aiohttp import web

from localcore.workspaces.invites import InviteService
from localcore.workspaces.service import WorkspaceService
from localcore.workspaces.settings import SettingsService


@dataclass(frozen=True, slots=True)
class WorkspaceFeature:
    workspaces: WorkspaceService
    invites: InviteService
    settings: SettingsService


WORKSPACES: web.AppKey[WorkspaceFeature] = web.AppKey("workspaces")
