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


class WiringError(RuntimeError):
    """A feature was set up before what it depends on: a programming error, reported at start-up."""


def require(app: web.Application, feature: str, *keys: web.AppKey[Any]) -> None:
    """Fail at start-up, naming what is missing, when ``feature`` is set up on an app without ``keys``
    (rather than skipping its wiring silently, or failing later on a request)."""
    missing = [repr(key) for key in keys if key not in app]
    if missing:
        raise WiringError(f"{feature} needs {', '.join(missing)} on the app first "
                          "(see localcore.app.create_app for the order)")
