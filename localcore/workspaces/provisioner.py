"""Optional workspace provisioning: a ``WorkspaceProvisioner`` gives each workspace its resources.

When a provisioner is configured, creating a workspace (and the lazily created default) provisions it,
deleting it destroys it first, and ``POST …/runtime/retry`` re-runs a failed provision. The reference
implementation gives every workspace a private directory: ``<root>/<workspace id>`` (mode 0700).

Configure it with ``LOCALCORE_WORKSPACE_ROOT`` (an absolute path) or ``[workspaces] root`` in TOML (read by
``localcore.config`` into ``Config.workspace_root``). Without either, nothing touches runtimes on create or
delete.
"""

from __future__ import annotations

import asyncio
import shutil
from dataclasses import dataclass
from pathlib import Path
from typing import Protocol

from localcore.config import Config


@dataclass(frozen=True, slots=True)
class ProvisionRequest:
    workspace_id: str
    workspace_name: str
    owner_id: str
    app_id: str


class WorkspaceProvisioner(Protocol):
    async def provision(self, request: ProvisionRequest) -> str:
        """Prepare the workspace's resources; returns its volume path. Raises on failure (the message
        becomes the runtime's ``lastError``)."""

    async def destroy(self, workspace_id: str) -> None:
        """Release the workspace's resources; raises on failure (the workspace is then not deleted).
        Destroying something already gone succeeds."""


class FilesystemProvisioner:
    """One 0700 directory per workspace under an absolute root."""

    def __init__(self, root: str | Path) -> None:
        root = Path(root)
        if not root.is_absolute():
            raise ValueError(f"workspace root must be an absolute path (got {str(root)!r})")
        self.root = root

    def path_of(self, workspace_id: str) -> Path:
        """The workspace's directory; ids that could name anything else are refused."""
        if (not workspace_id or workspace_id in (".", "..")
                or any(c in workspace_id for c in ("/", "\\", "\x00"))):
            raise ValueError(f"unsafe workspace id {workspace_id!r}")
        path = self.root / workspace_id
        if not path.resolve().is_relative_to(self.root.resolve()):
            raise ValueError(f"workspace id {workspace_id!r} escapes the root")
        return path

    async def provision(self, request: ProvisionRequest) -> str:
        path = self.path_of(request.workspace_id)

        def make() -> None:
            self.root.mkdir(parents=True, exist_ok=True)
            path.mkdir(mode=0o700, exist_ok=True)
            path.chmod(0o700)

        await asyncio.to_thread(make)
        return str(path)

    async def destroy(self, workspace_id: str) -> None:
        path = self.path_of(workspace_id)

        def remove() -> None:
            if path.exists():
                shutil.rmtree(path)

        await asyncio.to_thread(remove)


def provisioner_from_config(config: Config) -> WorkspaceProvisioner | None:
    """The filesystem provisioner when a workspace root is configured, else None."""
    root = config.workspace_root
    return FilesystemProvisioner(root) if root else None
