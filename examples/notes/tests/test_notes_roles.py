"""Notes by role, on every backend: members read, editors and owners write, outsiders get core's 403
``not_member``, signed-out callers core's 401; the notes are stored (encrypted) in the backend."""

from __future__ import annotations

from typing import Any

from localcore.store import Backend
from localcore.testing.app_client import LocalcoreClient


def notes_of(workspace_id: str) -> str:
    return f"/api/v1/workspaces/{workspace_id}/notes"


async def test_viewers_read_editors_and_owners_write_outsiders_are_refused(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")  # owner of her workspace
    bob = await localcore_client.signed_in("bob@example.com")
    cy = await localcore_client.signed_in("cy@example.com")
    dan = await localcore_client.signed_in("dan@example.com")  # never added
    assert ada.user is not None and ada.user.workspace_id is not None
    workspace = ada.user.workspace_id
    await ada.add_member(workspace, bob, "editor")
    await ada.add_member(workspace, cy, "viewer")
    status, created = await ada.call("POST", notes_of(workspace), {"text": "The owner's note"})
    assert status == 201
    note_path = f"{notes_of(workspace)}/{created['note']['id']}"

    def code(answer: tuple[int, Any]) -> tuple[int, str | None]:
        status, body = answer
        return status, body.get("code") if status >= 400 else None

    ok, created_, refused, outsider, signed_out = (200, None), (201, None), (403, "forbidden"), \
        (403, "not_member"), (401, "unauthorized")
    #        who               GET         POST        PUT
    matrix = [(ada,              ok,         created_,   ok),
              (bob,              ok,         created_,   ok),
              (cy,               ok,         refused,    refused),
              (dan,              outsider,   outsider,   outsider),
              (localcore_client, signed_out, signed_out, signed_out)]
    for who, read, write, change in matrix:
        assert code(await who.call("GET", notes_of(workspace))) == read, who.user
        assert code(await who.call("POST", notes_of(workspace), {"text": "hello"})) == write, who.user
        assert code(await who.call("PUT", note_path, {"text": "changed"})) == change, who.user

    for who, answer in ((cy, refused), (dan, outsider), (localcore_client, signed_out), (bob, ok)):
        assert code(await who.call("DELETE", note_path)) == answer, who.user
    status, listing = await cy.call("GET", notes_of(workspace))
    assert status == 200
    assert [n["text"] for n in listing["notes"]] == ["hello", "hello"]  # by ada and bob; the first is gone
    assert bob.user is not None
    assert [n["authorId"] for n in listing["notes"]] == [ada.user.id, bob.user.id]


async def test_notes_are_kept_in_order_changed_and_deleted(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    path = notes_of(ada.user.workspace_id)
    first = (await ada.call("POST", path, {"text": "  first  "}))[1]["note"]
    second = (await ada.call("POST", path, {"text": "second"}))[1]["note"]
    assert first["text"] == "first" and first["createdAt"] == first["updatedAt"]

    later = localcore_client.advance_clock(90)
    status, body = await ada.call("PUT", f"{path}/{first['id']}", {"text": "first, edited"})
    assert status == 200
    assert body["note"]["updatedAt"] == later.strftime("%Y-%m-%dT%H:%M:%S.000Z") != first["createdAt"]
    assert body["note"]["createdAt"] == first["createdAt"]

    assert await ada.call("DELETE", f"{path}/{second['id']}") == (200, {"deleted": True})
    assert [n["text"] for n in (await ada.call("GET", path))[1]["notes"]] == ["first, edited"]
    for method, body_ in (("PUT", {"text": "x"}), ("DELETE", None)):
        status, answer = await ada.call(method, f"{path}/{second['id']}", body_)
        assert (status, answer["code"]) == (404, "note_not_found")


async def test_bad_notes_get_cores_validation_envelope(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    for body in ({"text": ""}, {"text": "   "}, {"text": "x" * 2001}, {"text": 5}, {}, {"text": "a", "pinned": True}):
        status, answer = await ada.call("POST", notes_of(ada.user.workspace_id), body)
        assert (status, answer["code"]) == (400, "validation_failed"), body
        assert set(answer) == {"error", "code", "message", "requestId"}
    assert (await ada.call("GET", notes_of(ada.user.workspace_id)))[1] == {"notes": []}
    status, answer = await ada.call("GET", notes_of("not-a-workspace"))
    assert status == 404


async def test_notes_live_in_the_backend_sealed_like_every_setting(localcore_client: LocalcoreClient,
                                                                  localcore_backend: Backend) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    await ada.call("POST", notes_of(ada.user.workspace_id), {"text": "a secret plan"})
    stored = await localcore_backend.workspaces.get_workspace_setting(ada.user.workspace_id, "notes.v1")
    assert stored is not None and b"secret plan" not in stored.value
