"""The notes routes: every member reads, editors and owners write, anyone who reads may summarise (and
pays for it from their own credits)."""

from __future__ import annotations

from typing import Annotated

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from localcore import Plugin, clock_of, metered_run, require_role
from localcore.errors import NotFound
from localcore.workspaces import WORKSPACES
from notes import summary
from notes.store import MAX_NOTES, MAX_TEXT, Note, NoteStore

plugin = Plugin("notes", capabilities={"version": "0.1.0", "summarise": True, "maxNotes": MAX_NOTES,
                                       "model": summary.MODEL})

NOTE_STORE: web.AppKey[NoteStore] = web.AppKey("notes.store")
NOTES = "/api/v1/workspaces/{id}/notes"
ONE_NOTE = NOTES + "/{noteId}"

Text = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=MAX_TEXT)]


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: Text


class SummariseIn(BaseModel):
    """``runId``: the caller's id for this run; sending the same one again never charges twice."""

    model_config = ConfigDict(extra="forbid")
    runId: Annotated[str, StringConstraints(min_length=1, max_length=128, pattern=r"^[A-Za-z0-9_.:-]+$")]


class NotesOut(BaseModel):
    notes: list[Note]


class NoteOut(BaseModel):
    note: Note


class DeletedOut(BaseModel):
    deleted: bool


class SummaryOut(BaseModel):
    summary: str
    noteCount: int
    billedMicros: int = Field(description="Credits this request charged (0 for a replayed runId)")


@plugin.setup
def install_store(app: web.Application) -> None:
    app[NOTE_STORE] = NoteStore(app[WORKSPACES].settings, clock_of(app))


def _store(request: web.Request) -> NoteStore:
    return request.app[NOTE_STORE]


def _note_not_found() -> NotFound:
    return NotFound("Note not found", code="note_not_found")


@plugin.get(NOTES, response=NotesOut, summary="The workspace's notes, oldest first (any member)")
async def list_notes(request: web.Request) -> NotesOut:
    member = await require_role(request, request.match_info["id"], "viewer")
    return NotesOut(notes=await _store(request).all(member.workspace_id))


@plugin.post(NOTES, body=NoteIn, response=NoteOut, status=201, summary="Add a note (editor or owner)")
async def add_note(request: web.Request, body: NoteIn) -> NoteOut:
    member = await require_role(request, request.match_info["id"], "editor")
    return NoteOut(note=await _store(request).add(member.workspace_id, member.user_id, body.text))


@plugin.put(ONE_NOTE, body=NoteIn, response=NoteOut, summary="Change a note's text (editor or owner)")
async def update_note(request: web.Request, body: NoteIn) -> NoteOut:
    member = await require_role(request, request.match_info["id"], "editor")
    note = await _store(request).update(member.workspace_id, request.match_info["noteId"], body.text)
    if note is None:
        raise _note_not_found()
    return NoteOut(note=note)


@plugin.delete(ONE_NOTE, response=DeletedOut, summary="Delete a note (editor or owner)")
async def delete_note(request: web.Request) -> DeletedOut:
    member = await require_role(request, request.match_info["id"], "editor")
    if not await _store(request).delete(member.workspace_id, request.match_info["noteId"]):
        raise _note_not_found()
    return DeletedOut(deleted=True)


@plugin.post(NOTES + "/summarise", body=SummariseIn, response=SummaryOut,
             summary="Summarise the notes with the (fake) model, metered: holds credits for the run and "
                     "charges its usage (402 PAYMENT_REQUIRED when the balance cannot hold the run)")
async def summarise_notes(request: web.Request, body: SummariseIn) -> SummaryOut:
    member = await require_role(request, request.match_info["id"], "viewer")
    notes = await _store(request).all(member.workspace_id)
    # The ledger knows run ids across every user and app: scope the caller's id to this plugin and user.
    run_id = f"notes:{member.user_id}:{body.runId}"
    async with metered_run(request, run_id=run_id, workspace_id=member.workspace_id) as run:
        completion = await summary.summarise([note.text for note in notes])
        await run.record_usage(f"{run_id}:summary", billed_cost_micros=completion.cost_micros,
                               provider=summary.PROVIDER, model=summary.MODEL,
                               input_tokens=completion.input_tokens, output_tokens=completion.output_tokens)
    return SummaryOut(summary=completion.text, noteCount=len(notes), billedMicros=run.billed_micros)
