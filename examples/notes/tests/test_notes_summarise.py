"""``POST …/notes/summarise`` runs the fake model inside ``localcore.metered_run`` on every backend: the
caller's credits pay for it (usage recorded with its cost), a replayed ``runId`` is not charged again,
and members of any role may run it while outsiders may not."""

from __future__ import annotations

from localcore.testing.app_client import LocalcoreClient

NOTES = ["Buy milk and eggs", "Call the plumber about the kitchen sink tomorrow"]  # 4 + 8 words
#: The fake model's price: 1000 micros per call + 100 per word read.
COST_OF_NOTES = 1_000 + 100 * 12


async def _ada_with_notes(localcore_client: LocalcoreClient) -> tuple[LocalcoreClient, str]:
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    for text in NOTES:
        assert (await ada.call("POST", f"/api/v1/workspaces/{ada.user.workspace_id}/notes", {"text": text}))[0] == 201
    return ada, f"/api/v1/workspaces/{ada.user.workspace_id}/notes/summarise"


async def test_summarise_charges_the_callers_credits_once_per_run(localcore_client: LocalcoreClient) -> None:
    ada, path = await _ada_with_notes(localcore_client)
    before = await ada.balance()
    assert before["usedMicros"] == 0 and before["availableMicros"] > 0

    status, body = await ada.call("POST", path, {"runId": "run-1"})
    assert status == 200, body
    assert body == {"summary": "2 notes: Buy milk and eggs; Call the plumber about the kitchen",
                    "noteCount": 2, "billedMicros": COST_OF_NOTES}
    after = await ada.balance()
    assert after["usedMicros"] == COST_OF_NOTES
    assert after["remainingMicros"] == before["remainingMicros"] - COST_OF_NOTES
    assert after["activeReservedMicros"] == 0  # settled: the hold is gone

    replay = await ada.call("POST", path, {"runId": "run-1"})  # a retried request
    assert replay == (200, {**body, "billedMicros": 0})
    assert (await ada.balance())["usedMicros"] == COST_OF_NOTES

    assert (await ada.call("POST", path, {"runId": "run-2"}))[1]["billedMicros"] == COST_OF_NOTES
    assert (await ada.balance())["usedMicros"] == 2 * COST_OF_NOTES


async def test_any_member_summarises_at_their_own_cost_outsiders_cannot(localcore_client: LocalcoreClient) -> None:
    ada, path = await _ada_with_notes(localcore_client)
    cy = await localcore_client.signed_in("cy@example.com")
    dan = await localcore_client.signed_in("dan@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    await ada.add_member(ada.user.workspace_id, cy, "viewer")

    status, body = await cy.call("POST", path, {"runId": "run-1"})
    assert (status, body["billedMicros"]) == (200, COST_OF_NOTES)
    assert (await cy.balance())["usedMicros"] == COST_OF_NOTES
    assert (await ada.balance())["usedMicros"] == 0

    status, body = await dan.call("POST", path, {"runId": "run-1"})
    assert (status, body["code"]) == (403, "not_member")
    assert (await dan.balance())["usedMicros"] == 0


async def test_a_bad_run_id_is_a_400_and_charges_nothing(localcore_client: LocalcoreClient) -> None:
    ada, path = await _ada_with_notes(localcore_client)
    for body in ({}, {"runId": ""}, {"runId": "has space"}, {"runId": "x" * 129}, {"runId": 7}):
        status, answer = await ada.call("POST", path, body)
        assert (status, answer["code"]) == (400, "validation_failed"), body
    assert (await ada.balance())["usedMicros"] == 0
