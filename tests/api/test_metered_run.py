"""``metered_run`` on every backend (memory, SQLite, Postgres), through a plugin route as a child app
would use it: the configured hold for the signed-in user, 402 with nothing held, settling on a normal
exit, usage idempotent by id, release or the fallback charge on an exception, a replayed ``run_id``
charged once, credits disabled running the block as a no-op, and ``metered_run_for`` outside a request.

Defaults: signup grant 2 EUR (2 000 000 micros), hold 1 EUR (1 000 000), minimum balance 0.05 EUR.
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp import web
from pydantic import BaseModel, Field

from localcore import Plugin, metered_run, metered_run_for
from localcore.contract.ledger import MeteringInspector
from localcore.metering.feature import CREDITS
from localcore.store import Backend
from tests.api.auth_support import AuthClient, ClientFactory, make_config

HOLD = 1_000_000
GRANT = 2_000_000
ENV = {"BORING_CREDITS_SWEEP_INTERVAL_SECONDS": "0"}


class Usage(BaseModel):
    id: str
    micros: int = Field(ge=0)


class RunIn(BaseModel):
    runId: str
    usage: list[Usage] = []
    fail: bool = False


class RunOut(BaseModel):
    reservationId: str | None
    recorded: list[bool]
    billedMicros: int


def runs_plugin(entered: list[str]) -> Plugin:
    plugin = Plugin("runs")

    @plugin.post("/api/v1/runs", body=RunIn, response=RunOut, summary="A fake model run, metered")
    async def run(request: web.Request, body: RunIn) -> RunOut:
        async with metered_run(request, run_id=body.runId, source="test-run") as metered:
            entered.append(body.runId)
            recorded = [await metered.record_usage(u.id, billed_cost_micros=u.micros, provider="fake",
                                                   model="echo-1", input_tokens=10, output_tokens=5)
                        for u in body.usage]
            if body.fail:
                raise RuntimeError("the fake model crashed")
        return RunOut(reservationId=metered.reservation_id, recorded=recorded, billedMicros=metered.billed_micros)

    return plugin


async def _signed_in(make_client: ClientFactory, entered: list[str], **env: str) -> tuple[AuthClient, str]:
    client = await make_client(config=make_config(**{**ENV, **env}), plugins=[runs_plugin(entered)])
    user = (await client.sign_up("ada@example.com"))["user"]
    return client, str(user["id"])


async def _run(client: AuthClient, run_id: str, *usage: tuple[str, int], fail: bool = False,
               expect: int = 200) -> dict[str, Any]:
    response = await client.http.post("/api/v1/runs", json={
        "runId": run_id, "usage": [{"id": i, "micros": m} for i, m in usage], "fail": fail})
    body: dict[str, Any] = await response.json()
    assert response.status == expect, body
    return body


async def _balance(backend: Backend, user_id: str) -> tuple[int, int]:
    """(used, active reserved) micros."""
    balance = await backend.metering.get_balance(user_id)
    return balance.used_micros, balance.active_reserved_micros


async def _reservations(backend: Backend, user_id: str) -> list[str]:
    metering = backend.metering
    assert isinstance(metering, MeteringInspector)
    return [r.status for r in await metering.list_reservations(user_id)]


async def test_a_balance_that_cannot_hold_the_run_is_402_and_holds_nothing(make_client: ClientFactory,
                                                                          backend: Backend) -> None:
    entered: list[str] = []
    client, user_id = await _signed_in(make_client, entered, BORING_CREDITS_SIGNUP_GRANT_EUR="1")
    body = await _run(client, "r1", ("u1", 10), expect=402)
    assert body["code"] == "PAYMENT_REQUIRED" and body["requestId"]
    assert body["message"] == "You're out of credits. Top up your balance to keep going."
    assert body["details"]["balance"]["availableMicros"] == HOLD
    assert entered == []
    assert await _balance(backend, user_id) == (0, 0)
    assert await _reservations(backend, user_id) == []


async def test_leaving_normally_settles_what_was_used(make_client: ClientFactory, backend: Backend) -> None:
    client, user_id = await _signed_in(make_client, [])
    body = await _run(client, "r1", ("r1:u1", 200_000), ("r1:u2", 100_000))
    assert body["recorded"] == [True, True] and body["billedMicros"] == 300_000 and body["reservationId"]
    assert await _balance(backend, user_id) == (300_000, 0)
    assert await _reservations(backend, user_id) == ["settled"]
    metering = backend.metering
    assert isinstance(metering, MeteringInspector)
    row = await metering.get_usage("r1:u1")
    assert row is not None and (row.source, row.provider, row.model, row.run_id) == ("test-run", "fake", "echo-1", "r1")


async def test_usage_is_idempotent_by_usage_id(make_client: ClientFactory, backend: Backend) -> None:
    client, user_id = await _signed_in(make_client, [])
    body = await _run(client, "r1", ("r1:u1", 200_000), ("r1:u1", 200_000))
    assert body["recorded"] == [True, False] and body["billedMicros"] == 200_000
    assert await _balance(backend, user_id) == (200_000, 0)


async def test_an_exception_before_usage_releases_the_hold(make_client: ClientFactory, backend: Backend) -> None:
    client, user_id = await _signed_in(make_client, [])
    body = await _run(client, "r1", fail=True, expect=500)
    assert body["code"] == "internal_error"
    assert await _balance(backend, user_id) == (0, 0)
    assert await _reservations(backend, user_id) == ["released"]


async def test_an_exception_after_usage_applies_the_fallback_charge(make_client: ClientFactory,
                                                                    backend: Backend) -> None:
    client, user_id = await _signed_in(make_client, [])
    await _run(client, "r1", ("r1:u1", 300_000), fail=True, expect=500)
    assert await _balance(backend, user_id) == (HOLD, 0)  # topped up to the hold: 300 000 + 700 000
    assert await _reservations(backend, user_id) == ["settled"]
    metering = backend.metering
    assert isinstance(metering, MeteringInspector)
    sources = sorted(row.source for row in await metering.list_usage(user_id))
    assert sources == ["pi-chat-fallback", "test-run"]


async def test_a_replayed_run_id_is_not_charged_twice(make_client: ClientFactory, backend: Backend) -> None:
    client, user_id = await _signed_in(make_client, [], BORING_CREDITS_SIGNUP_GRANT_EUR="10")
    await _run(client, "r1", ("r1:u1", 300_000))
    replay = await _run(client, "r1", ("r1:u1", 300_000))
    assert replay["recorded"] == [False] and replay["billedMicros"] == 0
    assert await _balance(backend, user_id) == (300_000, 0)

    await _run(client, "r2", ("r2:u1", 100_000), fail=True, expect=500)
    assert await _balance(backend, user_id) == (300_000 + HOLD, 0)
    await _run(client, "r2", ("r2:u1", 100_000), fail=True, expect=500)
    await _run(client, "r2", ("r2:u1", 100_000))
    assert await _balance(backend, user_id) == (300_000 + HOLD, 0)


async def test_with_credits_disabled_the_block_still_runs(make_client: ClientFactory, backend: Backend) -> None:
    entered: list[str] = []
    client, user_id = await _signed_in(make_client, entered, BORING_CREDITS_ENABLED="0")
    body = await _run(client, "r1", ("r1:u1", 300_000))
    assert body == {"reservationId": None, "recorded": [False], "billedMicros": 0}
    assert entered == ["r1"]
    assert await _balance(backend, user_id) == (0, 0)
    assert await _reservations(backend, user_id) == []


async def test_a_signed_out_run_is_401(make_client: ClientFactory) -> None:
    client = await make_client(config=make_config(**ENV), plugins=[runs_plugin([])])
    body = await _run(client, "r1", expect=401)
    assert body["code"] == "unauthorized"


async def test_metered_run_for_meters_background_work(make_client: ClientFactory, backend: Backend) -> None:
    client, user_id = await _signed_in(make_client, [])
    async with metered_run_for(client.app, user_id=user_id, run_id="job-1") as run:
        assert await run.record_usage("job-1:u1", billed_cost_micros=50_000)
        assert await _balance(backend, user_id) == (50_000, HOLD)
    assert await _balance(backend, user_id) == (50_000, 0)
    with pytest.raises(RuntimeError, match="outside its"):
        await run.record_usage("job-1:u2", billed_cost_micros=1)
    service = client.app[CREDITS].service
    balance = await service.get_balance(user_id)
    assert balance.remaining_micros == GRANT - 50_000
