"""The credits policy layer, ``CreditsService`` over the ledger (scenarios I105 to I116, named as in
docs/contract.md, "Ledger scenario names").

A recording store checks exactly which ledger calls the service makes; the end-to-end scenario (I116) and
the debt shaping run over the real in-memory ledger.
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import pytest

from backends.memory.metering import MemoryMeteringStore
from localcore.clock import ManualClock
from localcore.contract.ledger import CreditLedgerEntry, InsufficientCreditError, MeteringBalance
from localcore.errors import CreditsError
from localcore.metering.pricing import PricingConfig, Rate, RateRule, TokenUsage, rule
from localcore.metering.service import (
    CreditExhaustedError,
    CreditsConfig,
    CreditsMeteringSink,
    CreditsService,
    UsageRecord,
)

SAFE_MAX = 2**53 - 1


class RecordingStore:
    """Answers like a ledger and records every call as ``(name, args, kwargs)``."""

    def __init__(self, *, balance: MeteringBalance | None = None, billed: int = 0,
                 reserve_error: Exception | None = None) -> None:
        self.calls: list[tuple[str, tuple[Any, ...], dict[str, Any]]] = []
        self.balance = balance
        self.billed = billed
        self.reserve_error = reserve_error

    def names(self) -> list[str]:
        return [name for name, _, _ in self.calls]

    def _record(self, name: str, *args: Any, **kwargs: Any) -> None:
        self.calls.append((name, args, kwargs))

    async def grant_once(self, *args: Any, **kwargs: Any) -> bool:
        self._record("grant_once", *args, **kwargs)
        return True

    async def get_balance(self, user_id: str, **kwargs: Any) -> MeteringBalance:
        self._record("get_balance", user_id, **kwargs)
        return self.balance or MeteringBalance(user_id, 2_000_000, 0, 2_000_000, 0, 2_000_000)

    async def list_ledger(self, *args: Any) -> list[CreditLedgerEntry]:
        self._record("list_ledger", *args)
        return []

    async def reserve(self, *args: Any, **kwargs: Any) -> str:
        self._record("reserve", *args, **kwargs)
        if self.reserve_error is not None:
            raise self.reserve_error
        return "res-1"

    async def record_usage(self, *args: Any, **kwargs: Any) -> bool:
        self._record("record_usage", *args, **kwargs)
        return True

    async def finish_reservation(self, *args: Any, **kwargs: Any) -> bool:
        self._record("finish_reservation", *args, **kwargs)
        return True

    async def mark_reservation_fallback_charge(self, *args: Any) -> None:
        self._record("mark_reservation_fallback_charge", *args)

    async def billed_micros_for_reservation(self, *args: Any) -> int:
        self._record("billed_micros_for_reservation", *args)
        return self.billed

    async def billed_micros_for_run(self, *args: Any) -> int:
        self._record("billed_micros_for_run", *args)
        return self.billed

    async def expire_stale_reservations(self, **kwargs: Any) -> int:
        self._record("expire_stale_reservations", **kwargs)
        return 0


def service(store: RecordingStore, **config: Any) -> CreditsService:
    return CreditsService(store, CreditsConfig(**config))  # type: ignore[arg-type]


async def test_i105_balance_grants_the_signup_credits_once() -> None:
    store = RecordingStore()
    credits = service(store)
    first = await credits.get_balance("u")
    await credits.get_balance("u")
    grants = [c for c in store.calls if c[0] == "grant_once"]
    assert [(name, args) for name, args, _ in grants] == [("grant_once", ("u", "signup_grant", 2_000_000))]
    assert [kwargs["audit"].action for _, _, kwargs in grants] == ["credits.grant"]  # the system's grant
    assert first.currency == "credits" and first.enabled is True


async def test_i106_negative_raw_balance_is_shaped_into_debt() -> None:
    store = RecordingStore(balance=MeteringBalance("u", 0, 100, -100, 0, -100))
    shaped = await service(store).get_balance("u")
    assert (shaped.remaining_micros, shaped.available_micros, shaped.debt_micros) == (0, 0, 100)


async def test_i107_reserve_run_holds_plus_floor_and_never_sweeps() -> None:
    store = RecordingStore()
    credits = service(store, run_reservation_micros=250_000, min_balance_micros=50_000,
                      reservation_ttl_seconds=7200)
    assert await credits.reserve_run("u", "run-1", workspace_id="w", session_id="s") == "res-1"
    (reserve,) = [c for c in store.calls if c[0] == "reserve"]
    assert reserve == ("reserve", ("u", "run-1", 250_000, 7200),
                       {"workspace_id": "w", "session_id": "s", "source": "pi-chat", "min_available_micros": 300_000})
    assert "expire_stale_reservations" not in store.names()


async def test_i108_insufficient_credit_becomes_a_402_with_the_balance() -> None:
    store = RecordingStore(reserve_error=InsufficientCreditError(40_000, 1_050_000),
                           balance=MeteringBalance("u", 100_000, 60_000, 40_000, 0, 40_000))
    with pytest.raises(CreditExhaustedError) as info:
        await service(store).reserve_run("u", "run-1")
    error = info.value
    assert isinstance(error, InsufficientCreditError) and isinstance(error, CreditsError)
    assert (error.status_code, error.status, error.code) == (402, 402, "PAYMENT_REQUIRED")
    assert (error.available_micros, error.required_micros) == (40_000, 1_050_000)
    assert str(error) == "You're out of credits. Top up your balance to keep going."
    assert error.details["balance"]["remainingMicros"] == 40_000


async def test_i108_other_errors_pass_through_unchanged() -> None:
    boom = RuntimeError("db down")
    with pytest.raises(RuntimeError) as info:
        await service(RecordingStore(reserve_error=boom)).reserve_run("u", "run-1")
    assert info.value is boom


async def test_i109_fallback_marks_first_then_tops_up_per_reservation() -> None:
    store = RecordingStore(billed=200_000)
    credits = service(store, run_reservation_micros=250_000)
    assert await credits.charge_fallback_usage("u", "run-1", reservation_id="res-1") == 50_000
    assert store.names() == ["mark_reservation_fallback_charge", "billed_micros_for_reservation", "record_usage",
                             "finish_reservation"]
    _, args, kwargs = store.calls[2]
    assert args == ("usage-fallback:res-1", "u", 50_000)
    assert kwargs["source"] == "pi-chat-fallback" and kwargs["provider_cost_micros"] == 0
    assert kwargs["metadata"] == {"kind": "usage_write_failed_fallback", "reservationId": "res-1",
                                  "alreadyBilledMicros": 200_000, "currency": "credits"}
    assert store.calls[3] == ("finish_reservation", ("settled",), {"reservation_id": "res-1"})


async def test_i110_no_top_up_when_already_billed_but_still_settles() -> None:
    store = RecordingStore(billed=300_000)
    assert await service(store, run_reservation_micros=250_000).charge_fallback_usage(
        "u", "run-1", reservation_id="res-1") == 0
    assert "record_usage" not in store.names() and store.names()[-1] == "finish_reservation"


async def test_i111_i112_without_reservation_sums_by_run() -> None:
    store = RecordingStore()
    await service(store).charge_fallback_usage("u", "run-1", kind="no_billable_usage")
    assert "billed_micros_for_reservation" not in store.names()
    assert "mark_reservation_fallback_charge" not in store.names()
    usage = next(c for c in store.calls if c[0] == "record_usage")
    assert usage[1][0] == "usage-fallback:run-1"
    assert usage[2]["metadata"]["kind"] == "no_billable_usage_fallback"
    assert usage[2]["metadata"]["reservationId"] is None
    assert store.calls[-1] == ("finish_reservation", ("settled",), {"run_id": "run-1", "user_id": "u"})


async def test_i113_disabled_makes_no_store_calls() -> None:
    store = RecordingStore()
    credits = service(store, enabled=False)
    balance = await credits.get_balance("u")
    assert balance.to_json() == {"enabled": False, "userId": "u", "grantedMicros": 0, "usedMicros": 0,
                                 "activeReservedMicros": 0, "remainingMicros": SAFE_MAX,
                                 "availableMicros": SAFE_MAX, "debtMicros": 0, "currency": "credits"}
    assert await credits.reserve_run("u", "r") is None
    assert await credits.list_ledger("u", 20) == []
    assert await credits.record_usage(UsageRecord("x", "u")) == 0
    await credits.charge_fallback_usage("u", "r", reservation_id="res")
    assert await credits.sweep() == 0
    assert store.calls == []


@pytest.mark.parametrize("config", [
    {"pricing": PricingConfig(margin=0.9)},
    {"pricing": PricingConfig(credit_micros_per_unit=0)},
    {"pricing": PricingConfig(rates=(rule("m", 0, 1),))},
    {"pricing": PricingConfig(default_rate=Rate(1, float("nan")))},
    {"run_reservation_micros": 0},
    {"reservation_ttl_seconds": 0},
    {"signup_grant_expires_after_days": 30},
    {"min_balance_micros": -1},
    {"signup_grant_micros": True},
])
def test_i114_unsafe_config_is_refused_unless_disabled(config: dict[str, Any]) -> None:
    with pytest.raises(ValueError, match="invalid credits config"):
        service(RecordingStore(), **config)
    service(RecordingStore(), enabled=False, **config)


async def test_record_usage_prices_and_tags_the_reservation() -> None:
    store = RecordingStore()
    credits = service(store, pricing=PricingConfig(margin=1.3, rates=(RateRule(rule("infomaniak", 0.5, 1.5).pattern,
                                                                                  Rate(0.5, 1.5)),)))
    record = UsageRecord("pi-usage:s:message:m", "u", run_id="r", reservation_id="res-1", session_id="s",
                         message_id="m", provider="infomaniak", model="qwen", stop_reason="stop",
                         usage=TokenUsage(1_000_000, -5))
    assert await credits.record_usage(record) == 650_000
    (_, args, kwargs), = [c for c in store.calls if c[0] == "record_usage"]
    assert args == ("pi-usage:s:message:m", "u", 650_000)
    assert kwargs["provider_cost_micros"] == 500_000 and kwargs["output_tokens"] == 0
    assert kwargs["metadata"] == {"currency": "credits", "reservationId": "res-1"}
    assert kwargs["source"] == "pi-chat"


async def test_i115_sink_routes_reasons() -> None:
    store = RecordingStore()
    sink = CreditsMeteringSink(service(store))
    for reason in ("usage-write-failed", "fallback-hold-charge"):
        store.calls.clear()
        await sink.release_run("u", "r", reason, reservation_id="res")
        assert store.names()[-1] == "finish_reservation" and store.calls[-1][1] == ("settled",)
    store.calls.clear()
    await sink.release_run("u", "r", "queue-cleared", reservation_id="res")
    assert store.calls == [("finish_reservation", ("released",), {"reservation_id": "res"})]
    with pytest.raises(CreditsError) as info:
        await sink.reserve_run(None, "r")
    assert (info.value.status, info.value.code) == (401, "UNAUTHORIZED")
    store.calls.clear()
    assert await sink.record_usage(UsageRecord("x", "")) == 0
    await sink.settle_run(None, "r")
    await sink.release_run(None, "r", "cancelled")
    assert store.calls == []
    assert await CreditsMeteringSink(service(store, enabled=False)).reserve_run(None, "r") == {}


async def test_i116_end_to_end_over_the_memory_ledger() -> None:
    clock = ManualClock(datetime(2026, 1, 1, tzinfo=UTC))
    store = MemoryMeteringStore(clock)
    credits = CreditsService(store, CreditsConfig(run_reservation_micros=250_000, min_balance_micros=50_000,
                                                  pricing=PricingConfig(margin=1, default_rate=Rate(1, 1))))
    first = await credits.reserve_run("u", "run-a")
    assert first is not None
    await store.record_usage("use-a", "u", 100_000, run_id="run-a", metadata={"reservationId": first})
    assert await credits.settle_run("u", "run-a", first) is True
    balance = await store.get_balance("u")
    assert (balance.used_micros, balance.active_reserved_micros) == (100_000, 0)

    second = await credits.reserve_run("u", "run-b")
    assert second is not None
    await store.record_usage("use-b", "u", 100_000, run_id="run-b", metadata={"reservationId": second})
    assert await credits.charge_fallback_usage("u", "run-b", reservation_id=second) == 150_000
    assert await credits.charge_fallback_usage("u", "run-b", reservation_id=second) == 0
    assert await store.billed_micros_for_run("u", "run-b") == 250_000
    assert await store.finish_reservation("settled", reservation_id=second) is False
    assert (await store.get_balance("u")).used_micros == 350_000


async def test_out_of_credits_over_the_memory_ledger() -> None:
    store = MemoryMeteringStore(ManualClock())
    credits = CreditsService(store, CreditsConfig(signup_grant_micros=1_000_000, run_reservation_micros=1_000_000,
                                                  min_balance_micros=50_000))
    with pytest.raises(CreditExhaustedError) as info:
        await credits.reserve_run("u", "r")
    assert (info.value.available_micros, info.value.required_micros) == (1_000_000, 1_050_000)
    assert (await store.get_balance("u")).active_reserved_micros == 0
