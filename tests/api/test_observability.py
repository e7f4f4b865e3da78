"""Observability for an operator: ``GET /metrics`` (Prometheus text, off by default, loopback or a bearer
token only) and ``LOG_FORMAT=json`` (one object per line, ids and timings, never a secret)."""

from __future__ import annotations

import io
import json
import logging
from collections.abc import Iterator
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import make_mocked_request

from localcore import create_app
from localcore.errors import Forbidden
from localcore.logs import JsonFormatter, RedactingFilter
from localcore.store import Backend
from tests.api.auth_support import STRONG_PASSWORD, AuthClient, ClientFactory, make_config

METRICS_ENV = {"METRICS_ENABLED": "true", "METRICS_TOKEN": "metrics-token-0123456789"}


async def _metrics_text(client: AuthClient) -> str:
    response = await client.http.get("/metrics")
    assert response.status == 200
    assert response.headers["Content-Type"].startswith("text/plain")
    return await response.text()


def _sample(text: str, name: str, **labels: str) -> float:
    """The value of one sample, matched by name and (a subset of) its labels."""
    for line in text.splitlines():
        named = line.startswith((name + "{", name + " "))
        if named and all(f'{key}="{value}"' in line for key, value in labels.items()):
            return float(line.rsplit(" ", 1)[1])
    raise AssertionError(f"no sample {name} {labels} in:\n{text}")


async def test_metrics_are_off_unless_enabled(app_client: AuthClient) -> None:
    response = await app_client.http.get("/metrics")
    assert response.status == 404
    assert (await response.json())["code"] == "not_found"


async def test_metrics_count_requests_by_route_template_and_report_the_storage(make_client: ClientFactory,
                                                                              backend: Backend) -> None:
    client = await make_client(make_config(**METRICS_ENV))
    await client.sign_up()
    workspaces = (await (await client.http.get("/api/v1/workspaces")).json())["workspaces"]
    for _ in range(3):
        assert (await client.http.get(f"/api/v1/workspaces/{workspaces[0]['id']}")).status == 200
    text = await _metrics_text(client)
    assert _sample(text, "localcore_http_requests_total", method="GET", route="/api/v1/workspaces/{id}",
                   status="200") == 3
    assert workspaces[0]["id"] not in text  # templates, never raw paths
    assert _sample(text, "localcore_http_request_duration_seconds_count", method="GET",
                   route="/api/v1/workspaces/{id}") == 3
    assert _sample(text, "localcore_mail_sent_total", outcome="sent") >= 1  # the verification mail
    if backend.kind != "memory":
        assert _sample(text, "localcore_storage_up") == 1
    assert "token" not in text.lower() and STRONG_PASSWORD not in text


async def test_rate_limit_refusals_are_counted(make_client: ClientFactory) -> None:
    client = await make_client(make_config(LOCALCORE_RATE_LIMITS="on", **METRICS_ENV))
    body = {"email": "nobody@example.com", "password": "wrong-password-1"}
    statuses = [(await client.http.post("/auth/sign-in/email", json=body)).status for _ in range(7)]
    assert statuses.count(429) == 2
    text = await _metrics_text(client)
    assert _sample(text, "localcore_rate_limit_refusals_total", rule="/auth/sign-in/email") == 2


def _metrics_handler(app: web.Application) -> Any:
    for route in app.router.routes():
        if route.resource is not None and route.resource.canonical == "/metrics" and route.method == "GET":
            return route.handler
    raise AssertionError("no /metrics route")


@pytest.mark.parametrize(("headers", "allowed"), [
    ({}, False),
    ({"Authorization": "Bearer wrong"}, False),
    ({"Authorization": f"Bearer {METRICS_ENV['METRICS_TOKEN']}"}, True),
])
async def test_a_remote_peer_needs_the_metrics_token(backend: Backend, headers: dict[str, str],
                                                     allowed: bool) -> None:
    app = create_app(make_config(**METRICS_ENV, TRUST_PROXY="1"), backend)
    request = make_mocked_request("GET", "/metrics", headers={**headers, "X-Forwarded-For": "127.0.0.1"},
                                  app=app)
    request._transport_peername = ("203.0.113.9", 5000)  # a peer on another host (and a forged XFF)
    handler = _metrics_handler(app)
    if allowed:
        response = await handler(request)
        assert response.status == 200 and b"localcore_http_requests_total" in response.body
    else:
        with pytest.raises(Forbidden):
            await handler(request)


@pytest.fixture
def json_log() -> Iterator[io.StringIO]:
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    handler.setFormatter(JsonFormatter())
    handler.addFilter(RedactingFilter())
    root = logging.getLogger()
    previous = root.level
    root.addHandler(handler)
    root.setLevel(logging.INFO)
    logging.getLogger("aiohttp.access").setLevel(logging.INFO)
    try:
        yield stream
    finally:
        root.removeHandler(handler)
        root.setLevel(previous)


async def test_json_logs_carry_ids_and_timings_and_no_secret(app_client: AuthClient, json_log: io.StringIO) -> None:
    signed_up = await app_client.sign_up()
    link = await app_client.link("ada@example.com", "verify", "/auth/verify-email")
    assert (await app_client.http.get(link, headers={"Accept": "application/json"})).status == 200
    me = await app_client.http.get("/api/v1/me", headers={"x-request-id": "req-123"})
    assert me.status == 200
    lines = [json.loads(line) for line in json_log.getvalue().splitlines()]
    assert all({"time", "level", "logger", "message"} <= set(line) for line in lines)
    access = [line for line in lines if line.get("requestId") == "req-123"]
    assert len(access) == 1
    entry = access[0]
    assert (entry["method"], entry["route"], entry["status"], entry["userId"]) == (
        "GET", "/api/v1/me", 200, signed_up["user"]["id"])
    assert isinstance(entry["durationMs"], float)
    text = json_log.getvalue()
    token = link.split("token=", 1)[1].split("&", 1)[0]
    assert token not in text and signed_up["token"] not in text and STRONG_PASSWORD not in text


async def test_ledger_operations_are_counted(make_client: ClientFactory) -> None:
    client = await make_client(make_config(**METRICS_ENV))
    await client.sign_up()
    balance = await client.http.get("/api/credits/balance")
    assert balance.status == 200
    text = await _metrics_text(client)
    assert _sample(text, "localcore_ledger_operations_total", operation="signup_grant", outcome="ok") >= 1
