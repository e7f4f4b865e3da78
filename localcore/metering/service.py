"""The credits policy over ``backend.metering``: ``CreditsService``.

The store owns the invariants (no overdraw, idempotency, refunds); this layer owns the product rules:
the lazy, idempotent signup grant; the run hold sized ``hold + min_balance`` so the floor is still there
after the hold; usage priced by ``pricing``; the fallback charge that tops a run up to its hold when its
real usage was lost (per reservation, never on top of real usage); and the 402 ``PAYMENT_REQUIRED``
error the agent boundary and the HTTP layer understand. With ``enabled=False`` every method is a no-op
(the kill switch), and the constructor does not validate anything.

``CreditsMeteringSink`` is the adapter an agent run coordinator drives (reserve → record → settle or
release with a reason).
"""

from __future__ import annotations

import functools
import logging
import math
from collections.abc import Callable, Coroutine
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any, Concatenate, Literal, ParamSpec, TypeVar

from localcore.audit import audit_record
from localcore.contract.ledger import (
    SAFE_INTEGER_MAX,
    CreditLedgerEntry,
    InsufficientCreditError,
    LedgerVocabulary,
    MeteringStore,
)
from localcore.contract.rules_ledger import fallback_usage_id
from localcore.errors import CreditsError
from localcore.metering.pricing import PricingConfig, TokenUsage, usage_to_credits

log = logging.getLogger("localcore.credits")

SIGNUP_GRANT_REASON = "signup_grant"
USAGE_SOURCE = "pi-chat"
FALLBACK_SOURCE = "pi-chat-fallback"
#: The names this service's ledger rows carry, upstream's: every purchase (Stripe's too) is recorded with
#: the source "lemonsqueezy", and a hold that expires marked is topped up as "pi-chat-expired".
LEDGER_VOCABULARY = LedgerVocabulary(
    purchase_source="lemonsqueezy", refund_source="lemonsqueezy-refund", expired_hold_source="pi-chat-expired",
    signup_grant_reason=SIGNUP_GRANT_REASON, fallback_sources=(FALLBACK_SOURCE,))
CREDITS_CURRENCY = "credits"
OUT_OF_CREDITS = "You're out of credits. Top up your balance to keep going."
FallbackKind = Literal["usage_write_failed", "no_billable_usage"]


@dataclass(frozen=True, slots=True)
class CreditsConfig:
    """Policy settings (upstream ``DEFAULT_CREDITS_CONFIG`` defaults)."""

    enabled: bool = True
    signup_grant_micros: int = 2_000_000
    signup_grant_expires_after_days: int | None = None
    run_reservation_micros: int = 1_000_000
    reservation_ttl_seconds: int = 7200
    min_balance_micros: int = 50_000
    pricing: PricingConfig = field(default_factory=PricingConfig)


def _safe(value: object, *, minimum: int) -> bool:
    return (isinstance(value, int) and not isinstance(value, bool)
            and minimum <= value <= SAFE_INTEGER_MAX)


def config_problems(config: CreditsConfig) -> list[str]:
    """Every reason the policy config is unsafe, in upstream's order; empty when disabled (kill switch)."""
    if not config.enabled:
        return []
    problems: list[str] = []
    pricing = config.pricing
    if not _safe(pricing.credit_micros_per_unit, minimum=1):
        problems.append("creditMicrosPerUnit must be a positive safe integer")
    if not (isinstance(pricing.margin, int | float) and math.isfinite(pricing.margin) and pricing.margin >= 1):
        problems.append("pricing margin must be a finite number >= 1 (a lower margin bills below cost)")
    rates = [r.rate for r in pricing.rates] + ([pricing.default_rate] if pricing.default_rate else [])
    for rate in rates:
        if not all(math.isfinite(v) and v > 0 for v in (rate.input_per_million, rate.output_per_million)):
            problems.append("every model rate needs finite input/output prices > 0")
            break
    if not _safe(config.signup_grant_micros, minimum=0):
        problems.append("signupGrantMicros must be a non-negative safe integer")
    if not _safe(config.run_reservation_micros, minimum=1):
        problems.append("runReservationMicros must be a positive safe integer")
    if not _safe(config.min_balance_micros, minimum=0):
        problems.append("minBalanceMicros must be a non-negative safe integer")
    if not _safe(config.reservation_ttl_seconds, minimum=1):
        problems.append("reservationTtlSeconds must be a positive safe integer")
    if not problems and not _safe(config.run_reservation_micros + config.min_balance_micros, minimum=0):
        problems.append("runReservationMicros + minBalanceMicros exceeds the safe integer range")
    if config.signup_grant_expires_after_days is not None:
        problems.append("signup grants must not expire (an expiring grant turns partly spent trials into debt)")
    return problems


@dataclass(frozen=True, slots=True)
class CreditBalance:
    """The shaped balance: never-negative ``remaining``/``available`` plus ``debt``."""

    enabled: bool
    user_id: str
    granted_micros: int = 0
    used_micros: int = 0
    active_reserved_micros: int = 0
    remaining_micros: int = SAFE_INTEGER_MAX
    available_micros: int = SAFE_INTEGER_MAX
    debt_micros: int = 0
    currency: str = CREDITS_CURRENCY

    def to_json(self) -> dict[str, Any]:
        return {
            "enabled": self.enabled, "userId": self.user_id, "grantedMicros": self.granted_micros,
            "usedMicros": self.used_micros, "activeReservedMicros": self.active_reserved_micros,
            "remainingMicros": self.remaining_micros, "availableMicros": self.available_micros,
            "debtMicros": self.debt_micros, "currency": self.currency,
        }


class CreditExhaustedError(InsufficientCreditError, CreditsError):
    """402 ``PAYMENT_REQUIRED`` with the shaped balance in ``details``; still an ``InsufficientCreditError``
    for callers of the store API, and a ``CreditsError`` so an HTTP handler renders it as is."""

    def __init__(self, balance: CreditBalance, available_micros: int, required_micros: int) -> None:
        Exception.__init__(self, OUT_OF_CREDITS)
        self.available_micros = available_micros
        self.required_micros = required_micros
        self.status = self.status_code = 402
        self.code = "PAYMENT_REQUIRED"
        self.message = OUT_OF_CREDITS
        self.headers: dict[str, str] = {}
        self.details = {"balance": balance.to_json()}
        self.extra: dict[str, Any] = {"details": self.details}


@dataclass(frozen=True, slots=True)
class UsageRecord:
    """One model call's usage as the agent reports it; priced by the service."""

    usage_id: str
    user_id: str
    run_id: str | None = None
    reservation_id: str | None = None
    workspace_id: str | None = None
    session_id: str | None = None
    message_id: str | None = None
    provider: str | None = None
    model: str | None = None
    stop_reason: str | None = None
    usage: TokenUsage = field(default_factory=TokenUsage)


P = ParamSpec("P")
R = TypeVar("R")
#: ``(operation, outcome)`` for every ledger operation the service runs: ``ok``, ``refused`` (no credit)
#: or ``error`` — the app's metrics, when they are on.
LedgerObserver = Callable[[str, str], None]


def _observed(operation: str) -> Callable[[Callable[Concatenate[CreditsService, P], Coroutine[Any, Any, R]]],
                                          Callable[Concatenate[CreditsService, P], Coroutine[Any, Any, R]]]:
    def decorate(method: Callable[Concatenate[CreditsService, P], Coroutine[Any, Any, R]]
                 ) -> Callable[Concatenate[CreditsService, P], Coroutine[Any, Any, R]]:
        async def observed(self: CreditsService, /, *args: P.args, **kwargs: P.kwargs) -> R:
            if self.observer is None:
                return await method(self, *args, **kwargs)
            try:
                result = await method(self, *args, **kwargs)
            except InsufficientCreditError:
                self.observer(operation, "refused")
                raise
            except Exception:
                self.observer(operation, "error")
                raise
            self.observer(operation, "ok")
            return result

        functools.update_wrapper(observed, method)
        return observed

    return decorate


class CreditsService:
    """The credits policy over one ledger. ``store`` should speak ``LEDGER_VOCABULARY`` (``for_store``
    sees to it), so that the rows the ledger writes on its own carry this service's names; raises
    ``ValueError`` for an unsafe ``config``."""

    def __init__(self, store: MeteringStore, config: CreditsConfig | None = None) -> None:
        self.store = store
        self.config = config or CreditsConfig()
        problems = config_problems(self.config)
        if problems:
            raise ValueError("invalid credits config: " + "; ".join(problems))
        self._signup_granted: set[str] = set()
        self.observer: LedgerObserver | None = None

    @classmethod
    def for_store(cls, store: MeteringStore, config: CreditsConfig | None = None) -> CreditsService:
        """The service over ``store``, given this service's ledger vocabulary first."""
        return cls(store.with_vocabulary(LEDGER_VOCABULARY), config)

    @property
    def enabled(self) -> bool:
        return self.config.enabled

    @_observed("signup_grant")
    async def grant_signup_credits(self, user_id: str) -> None:
        """Award the starter grant once (idempotent in the store; cached per process to skip the write)."""
        if not self.enabled or self.config.signup_grant_micros <= 0 or user_id in self._signup_granted:
            return
        await self.store.grant_once(user_id, SIGNUP_GRANT_REASON, self.config.signup_grant_micros,
                                    audit=audit_record("credits.grant", actor_id=None))
        self._signup_granted.add(user_id)

    async def get_balance(self, user_id: str, *, now: datetime | None = None) -> CreditBalance:
        if not self.enabled:
            return CreditBalance(enabled=False, user_id=user_id)
        await self.grant_signup_credits(user_id)
        raw = await self.store.get_balance(user_id, now=now)
        return CreditBalance(
            enabled=True, user_id=user_id, granted_micros=raw.granted_micros, used_micros=raw.used_micros,
            active_reserved_micros=raw.active_reserved_micros,
            remaining_micros=max(0, raw.remaining_micros), available_micros=max(0, raw.available_micros),
            debt_micros=max(0, -raw.remaining_micros))

    async def list_ledger(self, user_id: str, limit: int) -> list[CreditLedgerEntry]:
        if not self.enabled:
            return []
        return await self.store.list_ledger(user_id, limit)

    @_observed("reserve")
    async def reserve_run(self, user_id: str, run_id: str, *, workspace_id: str | None = None,
                          session_id: str | None = None) -> str | None:
        """Hold ``run_reservation_micros`` for a run, admitting only if ``min_balance`` stays available
        after it. Raises ``CreditExhaustedError`` (402). Never sweeps other users (reserve expires the
        caller's own stale holds; the background sweeper does the rest)."""
        if not self.enabled:
            return None
        await self.grant_signup_credits(user_id)
        hold = self.config.run_reservation_micros
        try:
            return await self.store.reserve(
                user_id, run_id, hold, self.config.reservation_ttl_seconds, workspace_id=workspace_id,
                session_id=session_id, source=USAGE_SOURCE, min_available_micros=hold + self.config.min_balance_micros)
        except InsufficientCreditError as exc:
            if isinstance(exc, CreditExhaustedError):
                raise
            balance = await self.get_balance(user_id)
            raise CreditExhaustedError(balance, exc.available_micros, exc.required_micros) from exc

    @_observed("usage")
    async def record_usage(self, record: UsageRecord) -> int:
        """Price and record one usage row; returns the billed micros (the caller's billability signal)."""
        if not self.enabled:
            return 0
        priced = usage_to_credits(record.usage, self.config.pricing, provider=record.provider,
                                  model_id=record.model)
        if priced.priced_from_default:
            log.warning("credits: model %r priced at the fail-closed default rate; configure its rate",
                        "/".join(p for p in (record.provider, record.model) if p) or "unknown")
        metadata: dict[str, Any] = {"currency": CREDITS_CURRENCY}
        if record.reservation_id:
            metadata["reservationId"] = record.reservation_id
        await self.store.record_usage(
            record.usage_id, record.user_id, priced.billed_micros, workspace_id=record.workspace_id,
            session_id=record.session_id, run_id=record.run_id, message_id=record.message_id,
            source=USAGE_SOURCE, provider=record.provider, model=record.model,
            input_tokens=priced.input_tokens, output_tokens=priced.output_tokens,
            cache_read_tokens=priced.cache_read_tokens, cache_write_tokens=priced.cache_write_tokens,
            provider_cost_micros=priced.provider_cost_micros, stop_reason=record.stop_reason, metadata=metadata)
        return priced.billed_micros

    async def _finish(self, status: Literal["settled", "released"], user_id: str, run_id: str,
                      reservation_id: str | None) -> bool:
        if reservation_id:
            return await self.store.finish_reservation(status, reservation_id=reservation_id)
        return await self.store.finish_reservation(status, run_id=run_id, user_id=user_id)

    @_observed("settle")
    async def settle_run(self, user_id: str, run_id: str, reservation_id: str | None = None) -> bool:
        if not self.enabled:
            return False
        return await self._finish("settled", user_id, run_id, reservation_id)

    @_observed("release")
    async def release_run(self, user_id: str, run_id: str, reservation_id: str | None = None) -> bool:
        if not self.enabled:
            return False
        return await self._finish("released", user_id, run_id, reservation_id)

    @_observed("fallback_charge")
    async def charge_fallback_usage(self, user_id: str, run_id: str, *, reservation_id: str | None = None,
                                    kind: FallbackKind = "usage_write_failed") -> int:
        """Charge a run whose real usage was lost up to its hold (``hold - already billed``, per
        reservation), then settle it. The ``charge_on_expire`` mark is committed first, so a failure
        here still gets charged when the hold expires. Returns the micros charged now."""
        if not self.enabled:
            return 0
        if reservation_id:
            await self.store.mark_reservation_fallback_charge(user_id, reservation_id)
            already = await self.store.billed_micros_for_reservation(user_id, reservation_id)
        else:
            already = await self.store.billed_micros_for_run(user_id, run_id)
        top_up = max(0, self.config.run_reservation_micros - already)
        if top_up > 0:
            await self.store.record_usage(
                fallback_usage_id(reservation_id or run_id), user_id, top_up, run_id=run_id,
                source=FALLBACK_SOURCE, provider_cost_micros=0,
                metadata={"kind": f"{kind}_fallback", "reservationId": reservation_id,
                          "alreadyBilledMicros": already, "currency": CREDITS_CURRENCY})
        await self._finish("settled", user_id, run_id, reservation_id)
        return top_up

    @_observed("purchase")
    async def grant_purchase(self, user_id: str, order_key: str, amount_micros: int, *,
                             store_id: str | None = None, test_mode: bool | None = None,
                             currency: str | None = None, variant_id: str | None = None) -> bool:
        return await self.store.grant_purchase_once(order_key, user_id, amount_micros, store_id=store_id,
                                                    test_mode=test_mode, currency=currency,
                                                    variant_id=variant_id,
                                                    audit=audit_record("credits.purchase", actor_id=None))

    @_observed("refund")
    async def revoke_purchase(self, order_key: str, *, refund_fraction: float | None = None,
                              allow_tombstone: bool = False, expected_store_id: str | None = None,
                              expected_test_mode: bool | None = None,
                              expected_currency: str | None = None) -> bool:
        return await self.store.revoke_purchase(
            order_key, refund_fraction=refund_fraction, allow_tombstone=allow_tombstone,
            expected_store_id=expected_store_id, expected_test_mode=expected_test_mode,
            expected_currency=expected_currency, audit=audit_record("credits.refund", actor_id=None))

    @_observed("expiry_sweep")
    async def sweep(self, *, now: datetime | None = None) -> int:
        """Expire every user's stale holds (background timer, never on the request path)."""
        if not self.enabled:
            return 0
        return await self.store.expire_stale_reservations(now=now)


ReleaseReason = Literal["usage-write-failed", "fallback-hold-charge", "run-rejected", "queue-cleared",
                        "cancelled", "error-before-usage"]


class CreditsMeteringSink:
    """What an agent run coordinator calls. Userless runs are not metered (reserve refuses them)."""

    def __init__(self, service: CreditsService) -> None:
        self.service = service

    async def reserve_run(self, user_id: str | None, run_id: str, *, workspace_id: str | None = None,
                          session_id: str | None = None) -> dict[str, str]:
        if not self.service.enabled:
            return {}
        if not user_id:
            raise CreditsError(401, "UNAUTHORIZED", "authentication required")
        reservation_id = await self.service.reserve_run(user_id, run_id, workspace_id=workspace_id,
                                                        session_id=session_id)
        return {"reservationId": reservation_id} if reservation_id else {}

    async def record_usage(self, record: UsageRecord) -> int:
        if not record.user_id:
            return 0
        return await self.service.record_usage(record)

    async def settle_run(self, user_id: str | None, run_id: str, reservation_id: str | None = None) -> None:
        if user_id:
            await self.service.settle_run(user_id, run_id, reservation_id)

    async def release_run(self, user_id: str | None, run_id: str, reason: ReleaseReason,
                          reservation_id: str | None = None) -> None:
        if not user_id:
            return
        if reason == "usage-write-failed":
            await self.service.charge_fallback_usage(user_id, run_id, reservation_id=reservation_id,
                                                     kind="usage_write_failed")
        elif reason == "fallback-hold-charge":
            await self.service.charge_fallback_usage(user_id, run_id, reservation_id=reservation_id,
                                                     kind="no_billable_usage")
        else:
            await self.service.release_run(user_id, run_id, reservation_id)
