"""Typed application state (``web.AppKey``): the one registry of what ``create_app`` puts on the app."""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

from aiohttp import web

from localcore.clock import Clock
from localcore.config import Config
from localcore.store import Backend

if TYPE_CHECKING:
    from localcore.http.openapi import RouteCatalog
    from localcore.http.ratelimit import RateLimiter
    from localcore.mail import Mailer

CONFIG = web.AppKey("config", Config)
BACKEND = web.AppKey("backend", Backend)
CLOCK: web.AppKey[Clock] = web.AppKey("clock")
MAILER: web.AppKey[Mailer] = web.AppKey("mailer")
CATALOG: web.AppKey[RouteCatalog] = web.AppKey("route_catalog")
RATE_LIMITER: web.AppKey[RateLimiter] = web.AppKey("rate_limiter")
CAPABILITIES: web.AppKey[dict[str, Any]] = web.AppKey("capabilities")
