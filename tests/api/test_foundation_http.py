"""The HTTP foundation: envelope, request id, headers, CORS, hosts, body limit, origin check, health."""

from __future__ import annotations

import asyncio
import re
import uuid
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestClient

from backends.memory import MemoryBackend
from localcore import create_app, load_config
from localcore.config import Config
from localcore.errors import HttpError

ENV = {"LOCALCORE_ENV": "test", "BETTER_AUTH_SECRET": "x" * 64, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64,
       "BETTER_AUTH_URL": "http://127.0.0.1", "TRUSTED_HOSTS": "*", "CORS_ORIGINS": "https://app.example.com",
       "MAIL_FROM": "Test <test@example.com>", "MAIL_TRANSPORT_URL": "console://"}

ClientFactory = Callable[..., Awaitable[TestClient[Any, Any]]]


def make_config(**extra: str) -> Config:
    return load_config(env={**ENV, **extra})


@pytest.fixture
async def client(aiohttp_client: ClientFactory) -> TestClient[Any, Any]:
    return await aiohttp_client(create_app(make_config(), MemoryBackend()))


async def test_health_is_ok(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health")
    assert response.status == 200
    assert await response.json() == {"ok": True}


async def test_request_id_is_echoed_or_generated(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health", headers={"x-request-id": "my-custom-id"})
    assert response.headers["x-request-id"] == "my-custom-id"
    generated = (await client.get("/health")).headers["x-request-id"]
    assert uuid.UUID(generated).version == 4
    too_long = (await client.get("/health", headers={"x-request-id": "a" * 129})).headers["x-request-id"]
    assert too_long != "a" * 129


async def test_unknown_api_route_is_a_404_envelope_with_the_request_id(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/nonexistent", headers={"x-request-id": "rid-1"})
    assert response.status == 404
    body = await response.json()
    assert body["code"] == "not_found"
    assert "/api/nonexistent" in body["message"]
    assert body["requestId"] == "rid-1"
    assert set(body) == {"error", "code", "message", "requestId"}


async def test_protected_api_routes_need_a_session(client: TestClient[Any, Any]) -> None:
    response = await client.get("/api/v1/capabilities")
    assert response.status == 401
    body = await response.json()
    assert body["code"] == "unauthorized" and body["message"] == "Authentication required"


async def test_public_config_has_exactly_the_public_keys(client: TestClient[Any, Any]) -> None:
    body = await (await client.get("/api/v1/config")).json()
    assert set(body) == {"appId", "appName", "appLogo", "apiBase", "features"}
    assert body["apiBase"] == "http://127.0.0.1"
    assert "databaseUrl" not in body and "auth" not in body and "encryption" not in body


async def test_security_headers_on_every_response(client: TestClient[Any, Any]) -> None:
    for path in ("/health", "/api/nonexistent"):
        headers = (await client.get(path)).headers
        assert headers["x-content-type-options"] == "nosniff"
        assert headers["x-frame-options"] == "DENY"
        hsts = headers["strict-transport-security"]
        assert "max-age=31536000" in hsts and "includeSubDomains" in hsts and "preload" in hsts
        assert headers["referrer-policy"] == "strict-origin-when-cross-origin"


async def test_csp_has_a_fresh_nonce_on_html_and_no_unsafe_eval(client: TestClient[Any, Any]) -> None:
    pages = [await client.get("/") for _ in range(2)]
    assert all(page.content_type == "text/html" for page in pages)
    first, second = (page.headers["content-security-policy"] for page in pages)
    for directive in ("default-src 'self'", "style-src-attr 'unsafe-inline'", "connect-src 'self'",
                      "frame-ancestors 'none'", "fonts.gstatic.com", "fonts.googleapis.com"):
        assert directive in first
    assert re.search(r"script-src 'self' 'nonce-[A-Za-z0-9+/=]{24}'", first)
    assert "'unsafe-eval'" not in first and "upgrade-insecure-requests" not in first
    assert first != second


async def test_json_answers_carry_the_policy_without_any_nonce(client: TestClient[Any, Any]) -> None:
    """No inline script or style can run from a JSON answer at all (and no random bytes per API call)."""
    page = (await client.get("/")).headers["content-security-policy"]
    api = (await client.get("/health")).headers["content-security-policy"]
    assert "nonce-" not in api
    assert api == re.sub(r" 'nonce-[A-Za-z0-9+/=]{24}'", "", page)
    assert "script-src 'self';" in api and "style-src 'self' https://fonts.googleapis.com;" in api


async def test_csp_can_upgrade_or_be_disabled(aiohttp_client: ClientFactory) -> None:
    upgraded = await aiohttp_client(create_app(make_config(CSP_UPGRADE_INSECURE_REQUESTS="true"), MemoryBackend()))
    assert "upgrade-insecure-requests" in (await upgraded.get("/health")).headers["content-security-policy"]
    disabled = await aiohttp_client(create_app(make_config(CSP_ENABLED="false"), MemoryBackend()))
    assert "content-security-policy" not in (await disabled.get("/health")).headers


async def test_cors_preflight_grants_allowed_origins_all_write_methods(client: TestClient[Any, Any]) -> None:
    response = await client.options("/api/v1/me", headers={
        "Origin": "https://app.example.com", "Access-Control-Request-Method": "DELETE",
        "Access-Control-Request-Headers": "content-type"})
    assert response.status == 204
    assert response.headers["access-control-allow-origin"] == "https://app.example.com"
    assert response.headers["access-control-allow-credentials"] == "true"
    assert {"PUT", "PATCH", "DELETE"} <= set(response.headers["access-control-allow-methods"].split(","))
    assert response.headers["access-control-allow-headers"] == "content-type"


async def test_cors_ignores_foreign_origins(client: TestClient[Any, Any]) -> None:
    response = await client.get("/health", headers={"Origin": "https://evil.example"})
    assert response.status == 200
    assert "access-control-allow-origin" not in response.headers
    allowed = await client.get("/api/nonexistent", headers={"Origin": "https://app.example.com"})
    assert allowed.headers["access-control-allow-origin"] == "https://app.example.com"


async def test_body_over_the_limit_is_413_not_500(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(make_config(BODY_LIMIT_BYTES="1024"), MemoryBackend()))
    response = await client.post("/auth/sign-in/email", data=b"x" * 4096,
                                 headers={"content-type": "application/json"})
    assert response.status == 413
    body = await response.json()
    assert body["code"] != "internal_error"


async def test_foreign_host_header_is_refused(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(make_config(TRUSTED_HOSTS=""), MemoryBackend()))
    refused = await client.get("/health", headers={"Host": "evil.example:8787"})
    assert refused.status == 400
    assert (await refused.json())["code"] == "invalid_host"
    assert (await client.get("/health", headers={"Host": "localhost:8787"})).status == 200


def _app_with_probe(config: Config) -> web.Application:
    app = create_app(config, MemoryBackend())

    async def boom(request: web.Request) -> web.Response:
        raise RuntimeError("connect to postgresql://admin:hunter2@db/prod failed")

    async def forbidden(request: web.Request) -> web.Response:
        raise HttpError(403, "forbidden", "Access denied")

    async def echo(request: web.Request) -> web.Response:
        return web.json_response(await request.json())

    app.router.add_get("/probe/boom", boom)
    app.router.add_get("/probe/forbidden", forbidden)
    app.router.add_post("/probe/echo", echo)
    app.router.add_delete("/probe/echo", echo)
    return app


async def test_unhandled_errors_never_leak(aiohttp_client: ClientFactory, caplog: pytest.LogCaptureFixture) -> None:
    client = await aiohttp_client(_app_with_probe(make_config()))
    response = await client.get("/probe/boom")
    assert response.status == 500
    text = await response.text()
    body = await response.json()
    assert body["message"] == "Internal server error" and body["code"] == "internal_error"
    assert "hunter2" not in text and "Traceback" not in text


async def test_application_errors_use_the_message_as_error(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(_app_with_probe(make_config()))
    body = await (await client.get("/probe/forbidden", headers={"x-request-id": "r2"})).json()
    assert body == {"error": "Access denied", "code": "forbidden", "message": "Access denied", "requestId": "r2"}


async def test_cookie_carrying_writes_need_an_allowed_origin(aiohttp_client: ClientFactory) -> None:
    config = make_config()
    client = await aiohttp_client(_app_with_probe(config))
    cookie = {"Cookie": f"{config.cookie_name}=abc.def"}
    foreign = await client.post("/probe/echo", json={}, headers={**cookie, "Origin": "https://evil.example"})
    assert foreign.status == 403
    assert (await foreign.json())["code"] == "invalid_origin"
    cross_site = await client.delete("/probe/echo", headers={**cookie, "Sec-Fetch-Site": "cross-site"})
    assert cross_site.status == 403
    allowed = await client.post("/probe/echo", json={"a": 1},
                                headers={**cookie, "Origin": "https://app.example.com"})
    assert allowed.status == 200
    same_origin = await client.post("/probe/echo", json={"a": 1}, headers={**cookie, "Sec-Fetch-Site": "same-origin"})
    assert same_origin.status == 200
    no_cookie = await client.post("/probe/echo", json={"a": 1}, headers={"Origin": "https://evil.example"})
    assert no_cookie.status == 200


async def test_cross_site_login_navigation_is_blocked(client: TestClient[Any, Any]) -> None:
    response = await client.post("/auth/sign-in/email", json={},
                                 headers={"Sec-Fetch-Site": "cross-site", "Sec-Fetch-Mode": "navigate"})
    assert response.status == 403
    assert (await response.json())["code"] == "CROSS_SITE_NAVIGATION_LOGIN_BLOCKED"


async def test_malformed_json_is_a_400(aiohttp_client: ClientFactory) -> None:
    from localcore.http.validation import read_json

    app = create_app(make_config(), MemoryBackend())

    async def parse(request: web.Request) -> web.Response:
        return web.json_response(await read_json(request))

    app.router.add_post("/probe/parse", parse)
    client = await aiohttp_client(app)
    response = await client.post("/probe/parse", data=b"{not json", headers={"content-type": "application/json"})
    assert response.status == 400
    assert (await response.json())["code"] == "invalid_json"
    unsupported = await client.post("/probe/parse", data=b"<x/>", headers={"content-type": "application/xml"})
    assert unsupported.status == 415


async def test_wrong_method_is_405_envelope(client: TestClient[Any, Any]) -> None:
    response = await client.delete("/health")
    assert response.status == 405
    assert (await response.json())["code"] == "method_not_allowed"


class _HangingBackend(MemoryBackend):
    async def ping(self) -> None:
        await asyncio.sleep(30)


class _BrokenBackend(MemoryBackend):
    async def ping(self) -> None:
        raise ConnectionRefusedError("could not connect to postgresql://u:secret@db")


async def test_health_reports_an_unreachable_database(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(make_config(), _BrokenBackend()))
    response = await client.get("/health")
    assert response.status == 503
    body = await response.json()
    assert body["error"] == body["code"] == "db_unavailable"
    assert body["message"] and "secret" not in body["message"]
    assert isinstance(body["requestId"], str)


async def test_health_times_out_a_hanging_ping_within_three_seconds(aiohttp_client: ClientFactory) -> None:
    client = await aiohttp_client(create_app(make_config(), _HangingBackend()))
    loop = asyncio.get_running_loop()
    started = loop.time()
    response = await client.get("/health")
    assert response.status == 503
    assert "timed out" in (await response.json())["message"]
    assert loop.time() - started < 3


async def test_openapi_lists_every_registered_route(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    assert document["openapi"].startswith("3.1")
    paths = document["paths"]
    assert {"/health", "/api/v1/config", "/api/v1/capabilities", "/api/openapi.json"} <= set(paths)
    registered = {
        (route.method, route.resource.canonical)
        for route in client.app.router.routes()
        if route.resource is not None and route.method in ("GET", "POST", "PUT", "PATCH", "DELETE")
        and not route.resource.canonical.startswith("/{") and "{tail" not in route.resource.canonical
        and route.resource.canonical not in ("/", "/favicon.svg")
    }
    for method, path in registered:
        assert method.lower() in paths.get(re.sub(r"\{(\w+)(:[^}]*)?\}", r"{\1}", path), {}), (method, path)


async def test_openapi_document_is_valid_openapi_31(client: TestClient[Any, Any]) -> None:
    from openapi_spec_validator import validate

    validate(await (await client.get("/api/openapi.json")).json())


@pytest.mark.parametrize("raw", [
    b'{"a":' * 5000 + b"1" + b"}" * 5000,  # nesting deeper than the recursion limit
    b'{"a": NaN}', b'{"a": Infinity}', b'{"a": -Infinity}', b'{"a": 1e999}',
    b'{"a": "\\ud800"}', b'{"a\\u0000": 1}', b'{"a": "x\\u0000y"}', b"\xff\xfe",
])
async def test_hostile_json_is_a_400_never_a_500(aiohttp_client: ClientFactory, raw: bytes) -> None:
    from localcore.http.validation import read_json

    app = create_app(make_config(), MemoryBackend())

    async def parse(request: web.Request) -> web.Response:
        return web.json_response(await read_json(request))

    app.router.add_post("/probe/parse", parse)
    client = await aiohttp_client(app)
    response = await client.post("/probe/parse", data=raw, headers={"content-type": "application/json"})
    assert response.status == 400
    assert (await response.json())["code"] in ("invalid_json", "validation_failed")


async def test_invalid_utf8_form_bodies_on_auth_routes_are_a_400(client: TestClient[Any, Any]) -> None:
    response = await client.post("/auth/sign-in/email", data=b"email=\xff\xfe&password=x",
                                 headers={"content-type": "application/x-www-form-urlencoded"})
    assert response.status == 400
    assert set(await response.json()) == {"code", "message"}


async def test_an_empty_cors_allow_list_allows_no_origin(aiohttp_client: ClientFactory) -> None:
    from localcore.http.cors import cors_middleware

    async def ok(request: web.Request) -> web.Response:
        return web.json_response({})

    app = web.Application(middlewares=[cors_middleware(())])
    app.router.add_get("/x", ok)
    client = await aiohttp_client(app)
    response = await client.get("/x", headers={"Origin": "https://evil.example"})
    assert "access-control-allow-origin" not in response.headers


async def test_openapi_documents_creations_under_201_with_their_schema(client: TestClient[Any, Any]) -> None:
    document = await (await client.get("/api/openapi.json")).json()
    create = document["paths"]["/api/v1/workspaces"]["post"]["responses"]
    assert "201" in create and "content" in create["201"]
    assert "200" not in create
