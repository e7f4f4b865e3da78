"""The per-account sign-in limit: failed password guesses against one email, whatever the client's IP.

The per-IP rule (5 a minute) stops one client; it does not stop a botnet, nor a client behind a proxy that
hands out addresses. So, independent of IP: after ``max`` (10) failed sign-ins for one email within
``window`` (15 minutes), every further attempt for that email answers 429 ``rate_limited`` with
``Retry-After`` until the window passes — even with the right password, or the limit would be an oracle.

- Only failures count: an attempt is counted before the password is checked (an atomic increment in the
  backend, so concurrent guesses cannot slip past the limit) and taken back when it succeeds. A success
  therefore does not reset the failures of the attacker who made them.
- Unknown emails are counted exactly like known ones, so the limit reveals nothing about who has an
  account.
- The counter is a rate-limit row in the backend, shared by every process.
- ``RATE_LIMIT_OVERRIDES_JSON`` changes it under the key :data:`RULE_NAME`; ``LOCALCORE_RATE_LIMITS=off``
  turns it off with the other limits.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from localcore.clock import Clock
from localcore.config import Config, parse_window
from localcore.errors import RateLimited
from localcore.store import RateLimitHit, RateLimitStore

RULE_NAME = "sign-in-failures-per-account"
DEFAULT_MAX = 10
DEFAULT_WINDOW = "15 minutes"


@dataclass(frozen=True, slots=True)
class Attempt:
    """A counted sign-in attempt; ``hit`` is None when the limit is off."""

    key: str
    hit: RateLimitHit | None


class SignInFailureLimit:
    def __init__(self, store: RateLimitStore, clock: Clock, config: Config) -> None:
        self.store = store
        self.clock = clock
        self.enabled = config.rate_limits_enabled
        override = config.rate_limit_overrides.get(RULE_NAME)
        self.max = override.max if override else DEFAULT_MAX
        self.window_seconds = parse_window(override.window if override else DEFAULT_WINDOW)

    async def begin(self, email: str) -> Attempt:
        """Count an attempt for the (normalised) ``email``; raise ``RateLimited`` past the limit."""
        key = f"signin-failures:{email}"
        if not self.enabled:
            return Attempt(key, None)
        now = self.clock()
        hit = await self.store.hit(key, window_seconds=self.window_seconds, now=now)
        if hit.count > self.max:
            raise RateLimited(max(1, math.ceil((hit.reset_at - now).total_seconds())))
        return Attempt(key, hit)

    async def succeeded(self, attempt: Attempt) -> None:
        """The attempt signed in: it was not a failure, so it does not count."""
        if attempt.hit is not None:
            await self.store.release(attempt.key, attempt.hit)
