"""Where the notes live: one encrypted workspace setting per workspace, through core's settings service.

Why there: a plugin gets no table of its own, and a dict in the process would be private to one process
and gone at restart, so its tests would prove nothing about SQLite or Postgres. A workspace setting is
stored by the backend (memory, SQLite, Postgres alike), sealed with AES-GCM like every setting, and
deleted with its workspace. The value is a JSON document ``{"notes": [...]}`` under :data:`SETTING_KEY`.

The limits of that choice, stated: each write rewrites the workspace's whole document (fine for a few
hundred short notes: :data:`MAX_NOTES` x :data:`MAX_TEXT`); writes in one process are serialised per
workspace, but two server processes (``--workers``) writing the same workspace at the same moment can
lose one of the writes (last writer wins). The key also shows in the workspace's settings list, where an
owner could overwrite it; a document that no longer parses is refused (409), never silently emptied.
"""

from __future__ import annotations

import asyncio
import json
from collections import defaultdict
from datetime import datetime

from pydantic import BaseModel, ValidationError

from localcore.clock import Clock, iso
from localcore.contract.ids import new_id
from localcore.errors import HttpError
from localcore.workspaces.settings import SettingsService

SETTING_KEY = "notes.v1"
MAX_NOTES = 200
MAX_TEXT = 2000


class Note(BaseModel):
    id: str
    text: str
    authorId: str
    createdAt: str
    updatedAt: str


class _Document(BaseModel):
    notes: list[Note]


class NotesFull(HttpError):
    def __init__(self) -> None:
        super().__init__(409, "notes_full", f"A workspace keeps at most {MAX_NOTES} notes")


class NotesUnreadable(HttpError):
    def __init__(self) -> None:
        super().__init__(409, "notes_unreadable", f"The workspace setting {SETTING_KEY!r} is not a notes document")


class NoteStore:
    """The notes of every workspace of one app."""

    def __init__(self, settings: SettingsService, clock: Clock) -> None:
        self._settings = settings
        self._clock = clock
        self._locks: defaultdict[str, asyncio.Lock] = defaultdict(asyncio.Lock)

    async def all(self, workspace_id: str) -> list[Note]:
        """Oldest first."""
        return await self._read(workspace_id)

    async def add(self, workspace_id: str, author_id: str, text: str) -> Note:
        async with self._locks[workspace_id]:
            notes = await self._read(workspace_id)
            if len(notes) >= MAX_NOTES:
                raise NotesFull()
            now = self._now()
            note = Note(id=new_id(), text=text, authorId=author_id, createdAt=now, updatedAt=now)
            await self._write(workspace_id, [*notes, note])
            return note

    async def update(self, workspace_id: str, note_id: str, text: str) -> Note | None:
        """The changed note; None if the workspace has no such note."""
        async with self._locks[workspace_id]:
            notes = await self._read(workspace_id)
            for index, note in enumerate(notes):
                if note.id == note_id:
                    notes[index] = changed = note.model_copy(update={"text": text, "updatedAt": self._now()})
                    await self._write(workspace_id, notes)
                    return changed
            return None

    async def delete(self, workspace_id: str, note_id: str) -> bool:
        async with self._locks[workspace_id]:
            notes = await self._read(workspace_id)
            kept = [note for note in notes if note.id != note_id]
            if len(kept) == len(notes):
                return False
            await self._write(workspace_id, kept)
            return True

    async def _read(self, workspace_id: str) -> list[Note]:
        raw = await self._settings.decrypt(workspace_id, SETTING_KEY)
        if raw is None:
            return []
        try:
            return _Document.model_validate_json(raw).notes
        except ValidationError:
            raise NotesUnreadable() from None

    async def _write(self, workspace_id: str, notes: list[Note]) -> None:
        document = json.dumps({"notes": [note.model_dump() for note in notes]}, separators=(",", ":"))
        await self._settings.put(workspace_id, {SETTING_KEY: document})

    def _now(self) -> str:
        moment: datetime = self._clock()
        return iso(moment) or ""
