"""Store records → the wire JSON shapes of the workspace routes (through the response models of ``models.py``)."""

from __future__ import annotations

import json
from datetime import datetime

from aiohttp import web
from pydantic import BaseModel

from localcore.clock import iso
from localcore.store import Invite, Member, MemberWithUser, Workspace, WorkspaceRuntime
from localcore.workspaces import models as m


def _iso(value: datetime) -> str:
    text = iso(value)
    assert text is not None
    return text


def workspace_out(workspace: Workspace) -> m.WorkspaceOut:
    return m.WorkspaceOut(id=workspace.id, appId=workspace.app_id, name=workspace.name,
                          createdBy=workspace.created_by, createdAt=_iso(workspace.created_at),
                          deletedAt=iso(workspace.deleted_at), isDefault=workspace.is_default)


def _member_fields(member: Member) -> dict[str, str]:
    return {"workspaceId": member.workspace_id, "userId": member.user_id, "role": member.role,
            "createdAt": _iso(member.created_at)}


def member_out(member: Member) -> m.MemberOut:
    return m.MemberOut.model_validate(_member_fields(member))


def member_with_user_out(entry: MemberWithUser) -> m.MemberWithUserOut:
    user = m.MemberUserOut(id=entry.member.user_id, email=entry.email, name=entry.name, image=entry.image)
    return m.MemberWithUserOut.model_validate({**_member_fields(entry.member), "user": user})


def invite_out(invite: Invite) -> m.InviteOut:
    return m.InviteOut.model_validate({
        "id": invite.id, "workspaceId": invite.workspace_id, "email": invite.email, "role": invite.role,
        "expiresAt": _iso(invite.expires_at), "acceptedAt": iso(invite.accepted_at),
        "createdBy": invite.created_by, "createdAt": _iso(invite.created_at)})


def runtime_out(runtime: WorkspaceRuntime) -> m.RuntimeOut:
    return m.RuntimeOut.model_validate({
        "workspaceId": runtime.workspace_id, "spriteUrl": runtime.sprite_url, "spriteName": runtime.sprite_name,
        "state": runtime.state, "lastError": runtime.last_error, "volumePath": runtime.volume_path,
        "lastErrorOp": runtime.last_error_op, "sandboxProvider": runtime.sandbox_provider,
        "sandboxId": runtime.sandbox_id, "sandboxStatus": runtime.sandbox_status,
        "sandboxSnapshotId": runtime.sandbox_snapshot_id, "sandboxCreatedAt": iso(runtime.sandbox_created_at),
        "sandboxLastUsedAt": iso(runtime.sandbox_last_used_at), "sandboxLastSeenAt": iso(runtime.sandbox_last_seen_at),
        "sandboxExpiresAt": iso(runtime.sandbox_expires_at), "provisioningStep": runtime.provisioning_step,
        "stepStartedAt": iso(runtime.step_started_at), "updatedAt": _iso(runtime.updated_at)})


def json_out(model: BaseModel, *, status: int = 200) -> web.Response:
    """Per-user data: never cached."""
    return web.Response(text=json.dumps(m.dump(model)), status=status, content_type="application/json",
                        headers={"Cache-Control": "no-store"})
