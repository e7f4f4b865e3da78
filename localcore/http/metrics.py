"""``GET /metrics`` in the Prometheus text format, for the Postgres (several processes) deployment.

Off unless ``METRICS_ENABLED=true``; then only a loopback peer (the TCP peer itself, never a forwarded
address) or a caller with ``Authorization: Bearer <METRICS_TOKEN>`` may read it (403 otherwise; 404 while
disabled, like any unknown route). Each app has its own registry, so several apps in one process (tests)
never share counters. What is measured:

- ``localcore_http_requests_total{method,route,status}`` and ``localcore_http_request_duration_seconds``
  by route *template* (``/api/v1/workspaces/{id}``), never the raw path, so ids do not explode the series;
- ``localcore_storage_up`` (1/0) and, for pooled backends, ``localcore_storage_pool_connections{state}``;
- ``localcore_ledger_operations_total{operation,outcome}``;
- ``localcore_rate_limit_refusals_total{rule}``;
- ``localcore_mail_sent_total{outcome}``.

The request middleware is installed only when metrics are on, so a server without them pays nothing.
"""

from __future__ import annotations

import hmac
import ipaddress
import time
from collections.abc import Callable, Iterable
from typing import Any

from aiohttp import web
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, Counter, Histogram, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector

from localcore.errors import Forbidden
from localcore.http.handler import Handler

PATH = "/metrics"
_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0)
#: ``() -> (up, {state: count})``: what the backend knows about its connections right now.
StorageProbe = Callable[[], tuple[bool, dict[str, int]]]


class _StorageCollector(Collector):
    def __init__(self, probe: StorageProbe) -> None:
        self.probe = probe

    def collect(self) -> Iterable[Any]:
        up, pool = self.probe()
        yield GaugeMetricFamily("localcore_storage_up", "1 while the storage answers, 0 during an outage",
                                value=1 if up else 0)
        family = GaugeMetricFamily("localcore_storage_pool_connections", "Pooled storage connections",
                                   labels=["state"])
        for state, count in sorted(pool.items()):
            family.add_metric([state], count)
        yield family


class Metrics:
    """The app's instruments. Features record through the methods; nothing here knows a feature."""

    def __init__(self, storage: StorageProbe | None = None) -> None:
        self.registry = CollectorRegistry(auto_describe=True)
        self.requests = Counter("localcore_http_requests", "HTTP requests answered",
                                ["method", "route", "status"], registry=self.registry)
        self.latency = Histogram("localcore_http_request_duration_seconds", "Time to answer an HTTP request",
                                 ["method", "route"], buckets=_BUCKETS, registry=self.registry)
        self.ledger = Counter("localcore_ledger_operations", "Credits ledger operations",
                              ["operation", "outcome"], registry=self.registry)
        self.refusals = Counter("localcore_rate_limit_refusals", "Requests refused by a rate limit",
                                ["rule"], registry=self.registry)
        self.mail = Counter("localcore_mail_sent", "Mail handed to the transport", ["outcome"],
                            registry=self.registry)
        if storage is not None:
            self.registry.register(_StorageCollector(storage))

    def ledger_operation(self, operation: str, outcome: str) -> None:
        self.ledger.labels(operation, outcome).inc()

    def rate_limited(self, rule: str) -> None:
        self.refusals.labels(rule).inc()

    def mail_sent(self, ok: bool) -> None:
        self.mail.labels("sent" if ok else "failed").inc()

    def exposition(self) -> bytes:
        return generate_latest(self.registry)


METRICS = web.AppKey("metrics", Metrics)


def metrics_of(app: web.Application) -> Metrics | None:
    """The app's metrics, or None when they are off (callers then record nothing)."""
    return app.get(METRICS)


def route_template(request: web.Request) -> str:
    resource = request.match_info.route.resource
    if resource is None or resource.name == "shell":
        return "static" if resource is not None else "unmatched"
    return resource.canonical


def metrics_middleware(metrics: Metrics) -> Any:
    @web.middleware
    async def middleware(request: web.Request, handler: Handler) -> web.StreamResponse:
        started = time.perf_counter()
        status = 500
        try:
            response = await handler(request)
            status = response.status
            return response
        except web.HTTPException as exc:
            status = exc.status
            raise
        finally:
            route = route_template(request)
            metrics.requests.labels(request.method, route, str(status)).inc()
            metrics.latency.labels(request.method, route).observe(time.perf_counter() - started)

    return middleware


def _is_loopback(address: str | None) -> bool:
    try:
        return address is not None and ipaddress.ip_address(address).is_loopback
    except ValueError:
        return False


def setup_metrics_route(app: web.Application, metrics: Metrics, token: str | None) -> None:
    expected = f"Bearer {token}".encode() if token else None

    async def exposition(request: web.Request) -> web.Response:
        presented = request.headers.get("Authorization", "").encode("utf-8", "replace")
        if not _is_loopback(request.remote) and not (expected and hmac.compare_digest(presented, expected)):
            raise Forbidden("Metrics are readable from this machine or with the metrics token")
        return web.Response(body=metrics.exposition(), headers={"Content-Type": CONTENT_TYPE_LATEST,
                                                                "Cache-Control": "no-store"})

    app.router.add_get(PATH, exposition, allow_head=False)
