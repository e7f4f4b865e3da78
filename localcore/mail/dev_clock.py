"""The dev clock over HTTP: ``GET``/``POST /api/dev/clock``, beside the dev mailbox and behind its key.

A developer watching an invite expire or a reservation lapse in the shell should not have to wait a week:
``POST /api/dev/clock {"advanceSeconds": N}`` moves the server's clock N seconds forward, ``{"reset":
true}`` brings it back to the wall clock, and both (and ``GET``) answer ``{offsetSeconds, now}``.

It moves every TTL because the app and the backend read one :class:`~localcore.clock.OffsetClock`
(``python -m localcore`` wires it so). It exists exactly where the dev mailbox does, and is as private:

- never in production, never with a transport other than ``console://`` (no mailbox), and never over a
  clock that cannot move (an app built with another clock): the answer is then the closed mailbox's
  (404 ``not_found`` in the core envelope), so a caller cannot tell a closed dev clock from none;
- only for a request that presents the mailbox secret (``?token=``, ``x-dev-mailbox-token``, or the
  mailbox cookie: :class:`~localcore.mail.routes.MailboxKey`); without it, the same 404.

The offset lives in this process: with ``--workers N`` each process keeps its own, so use one worker.
"""

from __future__ import annotations

from aiohttp import web
from pydantic import BaseModel, ConfigDict, Field, StrictBool, StrictInt, model_validator

from localcore.appkeys import CLOCK, CONFIG, MAILER
from localcore.clock import OffsetClock, iso
from localcore.errors import NotFound
from localcore.http.openapi import Param, RouteCatalog
from localcore.http.validation import parse_body
from localcore.mail.routes import TOKEN_HEADER, TOKEN_QUERY, MailboxKey

PATH = "/api/dev/clock"
#: The most one call may move the clock: a year and a day (every TTL localcore knows is shorter).
MAX_ADVANCE_SECONDS = 366 * 24 * 3600


class DevClockChange(BaseModel):
    """Exactly one of: move the clock forward by ``advanceSeconds`` (a whole number of seconds, 1 to a
    year and a day), or ``reset: true`` (back to the wall clock)."""

    model_config = ConfigDict(extra="forbid")
    advanceSeconds: StrictInt | None = Field(default=None, ge=1, le=MAX_ADVANCE_SECONDS)
    reset: StrictBool | None = None

    @model_validator(mode="after")
    def _one_change(self) -> DevClockChange:
        if (self.advanceSeconds is None) == (self.reset is not True):
            raise ValueError('Send either {"advanceSeconds": N} or {"reset": true}')
        return self


class DevClockOut(BaseModel):
    """How far the server's clock is ahead of the wall clock, and the server's now (ISO 8601, UTC)."""

    offsetSeconds: int
    now: str


def setup_dev_clock_routes(app: web.Application, key: MailboxKey, catalog: RouteCatalog) -> None:
    """Register the dev clock routes (they refuse at request time: see the module docstring)."""

    def clock_of(request: web.Request) -> OffsetClock:
        mailer = request.config_dict.get(MAILER)
        clock = request.config_dict.get(CLOCK)
        if (request.config_dict[CONFIG].env == "production" or mailer is None or mailer.dev_mailbox is None
                or not isinstance(clock, OffsetClock) or not key.opens(request)):
            raise NotFound(f"Route {request.method}:{PATH} not found")
        return clock

    def answer(clock: OffsetClock) -> web.Response:
        shown = DevClockOut(offsetSeconds=int(clock.offset.total_seconds()), now=iso(clock()) or "")
        return web.json_response(shown.model_dump())

    async def show_clock(request: web.Request) -> web.Response:
        return answer(clock_of(request))

    async def change_clock(request: web.Request) -> web.Response:
        clock = clock_of(request)  # first: without the key even a bad body is a 404
        change = await parse_body(request, DevClockChange)
        if change.reset:
            clock.reset()
        else:
            clock.advance(change.advanceSeconds or 0)
        return answer(clock)

    secret = [Param(TOKEN_QUERY, "query", "The mailbox secret (the banner link)"),
              Param(TOKEN_HEADER, "header", "The mailbox secret (scripts, tests)")]
    where = ("development only, console:// mail, needs the mailbox secret: ?token=, x-dev-mailbox-token or "
             "the mailbox cookie")
    catalog.add(app.router, "GET", PATH, show_clock, tag="dev", storage=False, params=secret,
                response=DevClockOut, summary=f"Dev clock: the server clock's offset and now ({where})",
                raises=[NotFound(f"Route GET:{PATH} not found")])
    catalog.add(app.router, "POST", PATH, change_clock, tag="dev", storage=False, params=secret,
                body=DevClockChange, response=DevClockOut,
                summary="Dev clock: move the server's clock forward ({\"advanceSeconds\": N}) or back to the "
                        f"wall clock ({{\"reset\": true}}); every TTL reads it ({where})",
                raises=[NotFound(f"Route POST:{PATH} not found")])
