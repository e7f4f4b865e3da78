"""Encrypted workspace settings: sealed at rest (``crypto.py``), metadata only over HTTP, keys rotatable.

Values are sealed by ``SettingsCipher`` before they reach the store and are never returned over HTTP: the
routes see only ``{key, configured, updated_at}``, where ``configured`` means "opens with a key we hold".
``decrypt`` is for server-side integrations. ``rotate_settings`` re-seals every value under the current
key (the ``rotate-settings-key`` command); a value written concurrently wins over the rotation.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime

from localcore.audit import audit_record
from localcore.store import StoredSetting, WorkspaceStore
from localcore.workspaces.crypto import SettingsCipher

log = logging.getLogger("localcore.workspaces")


@dataclass(frozen=True, slots=True)
class SettingMeta:
    key: str
    configured: bool
    updated_at: datetime


@dataclass(frozen=True, slots=True)
class RotationReport:
    total: int
    rotated: int
    already_current: int
    undecryptable: int
    changed_meanwhile: int


class SettingsService:
    def __init__(self, store: WorkspaceStore, cipher: SettingsCipher) -> None:
        self.store = store
        self.cipher = cipher

    def _meta(self, stored: StoredSetting) -> SettingMeta:
        plain = self.cipher.open(stored.workspace_id, stored.key, stored.value, stored.key_id)
        if plain is None:
            # The key name is not secret; the value (and the ciphertext) never appear in logs.
            log.warning("workspace.settings.decrypt.failed workspace=%s key=%s", stored.workspace_id, stored.key)
        return SettingMeta(stored.key, plain is not None, stored.updated_at)

    async def metadata(self, workspace_id: str) -> list[SettingMeta]:
        return [self._meta(s) for s in await self.store.list_workspace_settings(workspace_id)]

    async def put(self, workspace_id: str, values: dict[str, str], *, actor_id: str | None = None) -> list[SettingMeta]:
        """Seal and store ``values``: one ``settings.update`` event naming the KEYS (never a value)."""
        sealed = {key: self.cipher.seal(workspace_id, key, value) for key, value in values.items()}
        updated = audit_record("settings.update", actor_id=actor_id, workspace_id=workspace_id,
                               target_type="workspace", target_id=workspace_id, details={"keys": sorted(values)})
        await self.store.put_workspace_settings(workspace_id, sealed, audit=updated)
        log.info("workspace.settings.put workspace=%s keys=%d", workspace_id, len(sealed))
        return await self.metadata(workspace_id)

    async def delete(self, workspace_id: str, key: str, *, actor_id: str | None = None) -> bool:
        """Delete one setting (``settings.delete`` names its KEY); False if there was none."""
        deleted = audit_record("settings.delete", actor_id=actor_id, workspace_id=workspace_id,
                               target_type="workspace", target_id=workspace_id, details={"key": key})
        return await self.store.delete_workspace_setting(workspace_id, key, audit=deleted)

    async def decrypt(self, workspace_id: str, key: str) -> str | None:
        """The plaintext for server-side use; None when missing or not decryptable."""
        stored = await self.store.get_workspace_setting(workspace_id, key)
        if stored is None:
            return None
        return self.cipher.open(stored.workspace_id, stored.key, stored.value, stored.key_id)


async def rotate_settings(store: WorkspaceStore, cipher: SettingsCipher, *, dry_run: bool = False) -> RotationReport:
    """Re-seal every stored value under the cipher's current key. Values no key opens are left as they
    are (and counted); values already under the current key are skipped."""
    rows = await store.list_all_workspace_settings()
    rotated = current = undecryptable = changed = 0
    for row in rows:
        plain = cipher.open(row.workspace_id, row.key, row.value, row.key_id)
        if plain is None:
            undecryptable += 1
            continue
        if row.key_id == cipher.key_id:
            current += 1
            continue
        if dry_run:
            rotated += 1
            continue
        value, key_id = cipher.seal(row.workspace_id, row.key, plain)
        if await store.replace_workspace_setting(row.workspace_id, row.key, expected=row.value, value=value,
                                                 key_id=key_id):
            rotated += 1
        else:
            changed += 1
    return RotationReport(len(rows), rotated, current, undecryptable, changed)
