"""Metered runs: credits around a unit of billable work (an agent run, a model call), with upstream's
policy from ``CreditsService``.

::

    async with metered_run(request, run_id=run_id, workspace_id=ws) as run:
        answer = await model.complete(prompt)
        await run.record_usage(answer.id, billed_cost_micros=answer.cost_micros, provider="acme",
                               model="m-1", input_tokens=answer.input_tokens, output_tokens=answer.output_tokens)

- Entering reserves the configured hold (``BORING_CREDITS_RESERVATION_EUR``) for the signed-in user,
  admitted only while the minimum balance stays available after it. A balance that cannot hold it raises
  the 402 ``PAYMENT_REQUIRED`` answer (``CreditExhaustedError``, with the balance in ``details``) and
  holds nothing; the block does not run.
- ``run.record_usage(usage_id, billed_cost_micros=…)`` debits the ledger once per ``usage_id``
  (recording the same id again is a no-op, and returns False).
- Leaving the block normally settles the hold. Leaving it with an exception releases the hold when the
  block billed nothing, and otherwise applies the fallback charge (usage may have been lost: the run is
  charged up to its hold, ``hold - billed``, and settled); the exception propagates.
- A run is identified by ``run_id``: replaying it (a retried request) records its usage ids once and
  its fallback charge once (the charge is per run, ``hold - everything billed to the run``), so the same
  ``run_id`` is never charged twice for the same work.
- With credits disabled (``BORING_CREDITS_ENABLED=0``) it holds and records nothing and runs the block.

``metered_run_for(app, user_id=…, run_id=…)`` is the same for background work, outside a request.
"""

from __future__ import annotations

import logging
from contextlib import AbstractAsyncContextManager
from types import TracebackType

from aiohttp import web

from localcore.appkeys import WiringError
from localcore.contract.ledger import MeteringConflictError
from localcore.errors import HttpError
from localcore.metering.service import CREDITS_CURRENCY, USAGE_SOURCE, CreditsService

__all__ = ["MeteredRun", "metered_run", "metered_run_for"]

log = logging.getLogger("localcore.credits")


class MeteredRun:
    """The run inside ``async with``: ``record_usage`` and what was held and billed."""

    def __init__(self, service: CreditsService, *, user_id: str, run_id: str, workspace_id: str | None,
                 source: str | None) -> None:
        self.service = service
        self.user_id = user_id
        self.run_id = run_id
        self.workspace_id = workspace_id
        self.source = source or USAGE_SOURCE
        #: The hold's id (None with credits disabled).
        self.reservation_id: str | None = None
        #: Micros this block newly billed (replayed usage ids excluded).
        self.billed_micros = 0
        self._open = False

    @property
    def enabled(self) -> bool:
        return self.service.enabled

    async def record_usage(self, usage_id: str, *, billed_cost_micros: int, provider: str | None = None,
                           model: str | None = None, input_tokens: int | None = None,
                           output_tokens: int | None = None, cache_read_tokens: int | None = None,
                           cache_write_tokens: int | None = None, provider_cost_micros: int | None = None,
                           message_id: str | None = None, session_id: str | None = None,
                           stop_reason: str | None = None) -> bool:
        """Debit ``billed_cost_micros`` (a non-negative integer) for one model call, once per
        ``usage_id`` (globally unique: prefix it with the run id). True if recorded now; False for a
        replay of the same usage (or with credits disabled). The same id with other values is a
        ``MeteringConflictError``."""
        if not self._open:
            raise RuntimeError("record_usage outside its `async with metered_run(...)` block")
        if not self.enabled:
            return False
        inserted = await self.service.store.record_usage(
            usage_id, self.user_id, billed_cost_micros, workspace_id=self.workspace_id, session_id=session_id,
            run_id=self.run_id, message_id=message_id, source=self.source, provider=provider, model=model,
            input_tokens=input_tokens, output_tokens=output_tokens, cache_read_tokens=cache_read_tokens,
            cache_write_tokens=cache_write_tokens, provider_cost_micros=provider_cost_micros,
            stop_reason=stop_reason, metadata={"currency": CREDITS_CURRENCY})
        if self.service.observer is not None:
            self.service.observer("usage", "ok")
        if inserted:
            self.billed_micros += billed_cost_micros
        return inserted

    # ------------------------------------------------------------------ lifecycle

    async def _open_run(self) -> None:
        if self.enabled:
            try:
                self.reservation_id = await self.service.reserve_run(self.user_id, self.run_id,
                                                                     workspace_id=self.workspace_id)
            except MeteringConflictError:
                raise HttpError(409, "run_conflict", "This run id is in use by another user") from None
        self._open = True

    async def _close(self, failed: bool) -> None:
        self._open = False
        if not self.enabled:
            return
        if not failed:
            await self.service.settle_run(self.user_id, self.run_id, self.reservation_id)
        elif self.billed_micros == 0:
            await self.service.release_run(self.user_id, self.run_id, self.reservation_id)
        else:
            try:
                await self.service.charge_fallback_usage(self.user_id, self.run_id, kind="usage_write_failed")
            except MeteringConflictError:  # an older hold of this run is still open: finish ours by id
                await self.service.settle_run(self.user_id, self.run_id, self.reservation_id)


class _MeteredRunContext:
    def __init__(self, app: web.Application, *, request: web.Request | None, user_id: str | None, run_id: str,
                 workspace_id: str | None, source: str | None) -> None:
        if not isinstance(run_id, str) or not run_id.strip():
            raise ValueError("metered_run needs a non-empty run_id")
        self._app = app
        self._request = request
        self._user_id = user_id
        self._run_id = run_id
        self._workspace_id = workspace_id
        self._source = source
        self._run: MeteredRun | None = None

    async def __aenter__(self) -> MeteredRun:
        from localcore.metering.feature import CREDITS

        feature = self._app.get(CREDITS)
        if feature is None:
            raise WiringError("metered_run needs the credits feature on the app (create_app sets it up)")
        user_id = self._user_id
        if self._request is not None:
            from localcore.helpers import require_user

            user_id = (await require_user(self._request)).id
        if not user_id:
            raise ValueError("metered_run_for needs a user_id")
        run = MeteredRun(feature.service, user_id=user_id, run_id=self._run_id, workspace_id=self._workspace_id,
                         source=self._source)
        await run._open_run()
        self._run = run
        return run

    async def __aexit__(self, exc_type: type[BaseException] | None, exc: BaseException | None,
                        traceback: TracebackType | None) -> None:
        run = self._run
        if run is None:
            return
        self._run = None
        if exc is None or (isinstance(exc, web.HTTPException) and exc.status < 400):  # a redirect is success
            await run._close(failed=False)
            return
        try:
            await run._close(failed=True)
        except Exception:  # the block's own exception is the one to report; the hold expires on its TTL
            log.exception("credits: finishing run %s after an error failed", run.run_id)


def metered_run(request: web.Request, *, run_id: str, workspace_id: str | None = None,
                source: str | None = None) -> AbstractAsyncContextManager[MeteredRun]:
    """``async with metered_run(request, run_id=…) as run:`` for the signed-in user (401 without a
    session). ``source``: the ledger source of the usage rows (default ``pi-chat``, upstream's)."""
    return _MeteredRunContext(request.app, request=request, user_id=None, run_id=run_id,
                              workspace_id=workspace_id, source=source)


def metered_run_for(app: web.Application, *, user_id: str, run_id: str, workspace_id: str | None = None,
                    source: str | None = None) -> AbstractAsyncContextManager[MeteredRun]:
    """:func:`metered_run` for background work: the app and the user to bill, no request."""
    return _MeteredRunContext(app, request=None, user_id=user_id, run_id=run_id, workspace_id=workspace_id,
                              source=source)
