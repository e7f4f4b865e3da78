"""``Idempotency-Key`` on ``POST /api/v1/workspaces/:id/invites`` (docs/compatibility.md, fix 9).

Upstream keys the cache by ``invites:<key>`` alone and writes it after the handler, so concurrent
duplicates both run and one user's key replays for another. Here:

- the key is scoped to (user, route, workspace, header value);
- it is *claimed* in the backend before the handler runs (a ``pending`` row), so across every process
  sharing the backend the handler runs at most once per key;
- a duplicate that finds the claim pending waits briefly for the first request and replays its answer,
  or gets 409 ``idempotency_in_progress``;
- a successful (2xx) answer is stored and replayed verbatim (status + JSON body) for 24 h; a failed
  request releases its claim, so the same key may be retried (as Stripe does for requests that never ran).
Entries older than 24 h are swept on every keyed request. Guards (auth, role) run before, and their
refusals are never cached.
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import timedelta

from aiohttp import web

from localcore.appkeys import BACKEND, CLOCK
from localcore.errors import HttpError, ValidationFailed

HEADER = "Idempotency-Key"
TTL_SECONDS = 86_400
MAX_KEY_LENGTH = 255
WAIT_SECONDS = 5.0
POLL_SECONDS = 0.05


def _replay(status: int | None, body: object) -> web.Response:
    return web.Response(status=status or 200, text=json.dumps(body), content_type="application/json",
                        headers={"Cache-Control": "no-store", "Idempotent-Replayed": "true"})


async def idempotent(request: web.Request, scope: str,
                     run: Callable[[], Awaitable[web.Response]]) -> web.Response:
    """Run ``run`` at most once per (``scope``, ``Idempotency-Key``); without the header, just run it."""
    key = request.headers.get(HEADER, "").strip()
    if not key:
        return await run()
    if len(key) > MAX_KEY_LENGTH:
        raise ValidationFailed(f"{HEADER} must be {MAX_KEY_LENGTH} characters or fewer")
    store, clock = request.app[BACKEND].idempotency, request.app[CLOCK]
    full_key = f"{scope}:{key}"
    await store.sweep(clock() - timedelta(seconds=TTL_SECONDS))
    loop = asyncio.get_running_loop()
    deadline = loop.time() + WAIT_SECONDS
    while (record := await store.claim(full_key, now=clock(), ttl_seconds=TTL_SECONDS)) is not None:
        if record.status == "done":
            return _replay(record.response_status, record.response_body)
        if loop.time() >= deadline:
            raise HttpError(409, "idempotency_in_progress",
                            f"A request with this {HEADER} is still in progress; retry later")
        await asyncio.sleep(POLL_SECONDS)
    try:
        response = await run()
    except BaseException:
        await asyncio.shield(store.release(full_key))
        raise
    if 200 <= response.status < 300 and response.text is not None:
        await store.complete(full_key, status=response.status, body=json.loads(response.text))
    else:
        await store.release(full_key)
    return response
