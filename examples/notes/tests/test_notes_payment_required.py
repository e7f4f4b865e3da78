"""A balance that cannot hold a run: ``summarise`` answers core's 402 ``PAYMENT_REQUIRED`` (with the
balance in ``details``, as ``metered_run`` raises it), and holds nothing."""

from __future__ import annotations

import pytest

from localcore.testing.app_client import LocalcoreClient
from localcore.testing.app_fixtures import TEST_ENV


@pytest.fixture
def localcore_env() -> dict[str, str]:
    # Sign-up grants 0.50 EUR; a run holds 1 EUR (the default BORING_CREDITS_RESERVATION_EUR).
    return {**TEST_ENV, "BORING_CREDITS_SIGNUP_GRANT_EUR": "0.5"}


async def test_a_balance_that_cannot_hold_the_run_is_402_and_holds_nothing(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None and ada.user.workspace_id is not None
    notes = f"/api/v1/workspaces/{ada.user.workspace_id}/notes"
    assert (await ada.call("POST", notes, {"text": "something to summarise"}))[0] == 201
    before = await ada.balance()
    assert before["availableMicros"] == 500_000

    status, body = await ada.call("POST", f"{notes}/summarise", {"runId": "run-1"})
    assert status == 402, body
    assert body["code"] == "PAYMENT_REQUIRED"
    assert body["details"]["balance"]["availableMicros"] == 500_000
    assert await ada.balance() == before  # nothing held, nothing used
