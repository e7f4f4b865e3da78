"""Rate limits kept in the backend, so every process sharing it counts together.

The machinery only: each feature declares its rules where it registers its routes
(``RateLimiter.add_rules``). A rule attaches to a route template and method (``POST /auth/sign-in/email``)
and has a key (client IP, workspace id, or IP plus user). Fixed windows; a refused request gets 429
``rate_limited`` with ``Retry-After``. ``RATE_LIMIT_OVERRIDES_JSON`` replaces ``max``/``window`` per rule,
keyed ``"<METHOD> <path>"`` first, then ``"<path>"`` (paths in ``:param`` style as upstream).
"""

from __future__ import annotations

import math
import re
from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from aiohttp import web

from localcore.clock import Clock
from localcore.config import Config, parse_window
from localcore.errors import RateLimited
from localcore.http.identity import current_user
from localcore.http.request_context import client_ip
from localcore.store import RateLimitStore

KeyFunc = Callable[[web.Request], Awaitable[str]]


async def by_ip(request: web.Request) -> str:
    return client_ip(request)


async def by_workspace(request: web.Request) -> str:
    return request.match_info.get("id", "")


async def by_ip_and_user(request: web.Request) -> str:
    user = await current_user(request)
    return f"{client_ip(request)}:{user.id if user else 'anon'}"


@dataclass(frozen=True, slots=True)
class Rule:
    """``deferred``: the guard does not count it; the route calls ``RateLimiter.enforce`` itself once the
    caller is authorised, so requests that are refused anyway cannot use up someone else's budget."""

    method: str
    path: str
    max: int
    window: str
    key: KeyFunc
    deferred: bool = False

    @property
    def window_seconds(self) -> float:
        return parse_window(self.window)


_BRACES = re.compile(r"\{(\w+)(?::[^}]*)?\}")


def colon_style(template: str) -> str:
    """aiohttp's ``/a/{id}`` → upstream's ``/a/:id``."""
    return _BRACES.sub(r":\1", template)


class RateLimiter:
    def __init__(self, store: RateLimitStore, clock: Clock, config: Config, rules: tuple[Rule, ...] = ()) -> None:
        self.store = store
        self.clock = clock
        self.enabled = config.rate_limits_enabled
        self.overrides = config.rate_limit_overrides
        self.rules: dict[tuple[str, str], Rule] = {}
        self._by_route: dict[tuple[str, str], Rule | None] = {}
        self.add_rules(rules)

    def add_rules(self, rules: tuple[Rule, ...]) -> None:
        """A feature's rules for its routes (at set-up), with the operator's overrides applied."""
        for rule in rules:
            if (rule.method, rule.path) in self.rules:
                raise ValueError(f"rate limit for {rule.method} {rule.path} is declared twice")
            override = self.overrides.get(f"{rule.method} {rule.path}") or self.overrides.get(rule.path)
            if override is not None:
                rule = Rule(rule.method, rule.path, override.max, override.window, rule.key, rule.deferred)
            self.rules[(rule.method, rule.path)] = rule
        self._by_route.clear()

    def rule_for(self, request: web.Request) -> Rule | None:
        resource = request.match_info.route.resource
        if resource is None:
            return None
        key = (request.method, resource.canonical)
        try:
            return self._by_route[key]
        except KeyError:
            rule = self._by_route[key] = self.rules.get((request.method, colon_style(resource.canonical)))
            return rule

    async def check(self, request: web.Request, rule: Rule) -> tuple[int, int, int]:
        """Count the request; raise ``RateLimited`` past the limit. Returns (limit, remaining, reset s)."""
        key = await rule.key(request)
        now = self.clock()
        hit = await self.store.hit(f"rl:{rule.method} {rule.path}:{key}", window_seconds=rule.window_seconds,
                                   now=now)
        reset = max(1, math.ceil((hit.reset_at - now).total_seconds()))
        if hit.count > rule.max:
            raise RateLimited(reset)
        return rule.max, rule.max - hit.count, reset

    async def guard(self, request: web.Request) -> None:
        """Count the request against its route's rule (if any); the headers go out with the response."""
        rule = self.rule_for(request) if self.enabled else None
        if rule is not None and not rule.deferred:
            request[RATE_LIMIT_STATE] = await self.check(request, rule)

    async def enforce(self, request: web.Request) -> None:
        """Count a request against its route's deferred rule, from inside the handler (after the
        authorisation checks); raises ``RateLimited`` past the limit."""
        rule = self.rule_for(request) if self.enabled else None
        if rule is not None and rule.deferred:
            request[RATE_LIMIT_STATE] = await self.check(request, rule)


RATE_LIMIT_STATE: web.RequestKey[tuple[int, int, int]] = web.RequestKey("rate_limit_state")


async def add_rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """``write_rate_limit_headers`` as an ``on_response_prepare`` hook of its own (``create_app`` runs it
    inside the one headers hook instead)."""
    write_rate_limit_headers(request, response)


def write_rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    state = request.get(RATE_LIMIT_STATE)
    if state is not None:
        limit, remaining, reset = state
        response.headers["x-ratelimit-limit"] = str(limit)
        response.headers["x-ratelimit-remaining"] = str(remaining)
        response.headers["x-ratelimit-reset"] = str(reset)
