"""The contract suite's view of a backend's workspace rows: ``WorkspaceStore`` plus the read-only
``WorkspaceInspector`` window, which every bundled backend implements and services never use."""

from __future__ import annotations

from typing import Protocol, cast

from localcore.contract.backend import Backend
from localcore.contract.workspaces import WorkspaceInspector, WorkspaceStore


class InspectableWorkspaces(WorkspaceStore, WorkspaceInspector, Protocol):
    """A workspace store the suite can also look into."""


def raw_workspaces(backend: Backend) -> InspectableWorkspaces:
    """``backend.workspaces`` with its inspector methods; a backend under test must provide them."""
    workspaces = backend.workspaces
    assert isinstance(workspaces, WorkspaceInspector), (
        f"{type(workspaces).__name__} must implement WorkspaceInspector (list_members, get_invite) for the "
        "contract suite")
    return cast(InspectableWorkspaces, workspaces)
