"""The shape of ``/api/openapi.json``: shared answers declared once, attached by route family and trait.

(Whether the document is *true* is ``test_openapi_conformance.py``'s job: schemathesis against a server.)
"""

from __future__ import annotations

from typing import Any

import pytest
from aiohttp.test_utils import TestClient

from backends.memory import MemoryBackend
from localcore import create_app, load_config

ENV = {"LOCALCORE_ENV": "test", "BETTER_AUTH_SECRET": "x" * 64, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64,
       "BETTER_AUTH_URL": "http://127.0.0.1", "TRUSTED_HOSTS": "*", "MAIL_FROM": "Test <test@example.com>",
       "MAIL_TRANSPORT_URL": "console://"}
WRITES = ("post", "put", "patch", "delete")


@pytest.fixture
async def document(aiohttp_client: Any) -> dict[str, Any]:
    client: TestClient[Any, Any] = await aiohttp_client(create_app(load_config(env=ENV), MemoryBackend()))
    body: dict[str, Any] = await (await client.get("/api/openapi.json")).json()
    return body


def operations(document: dict[str, Any]) -> list[tuple[str, str, dict[str, Any]]]:
    return [(method, path, op) for path, item in document["paths"].items() for method, op in item.items()]


def resolve(document: dict[str, Any], response: dict[str, Any]) -> dict[str, Any]:
    ref = response.get("$ref")
    if ref is None:
        return response
    resolved: dict[str, Any] = document["components"]["responses"][ref.rsplit("/", 1)[1]]
    return resolved


def codes(document: dict[str, Any], response: dict[str, Any]) -> set[str]:
    """The error codes of a response's examples."""
    found = set()
    for media in resolve(document, response).get("content", {}).values():
        for example in media.get("examples", {}).values():
            value = document["components"]["examples"][example["$ref"].rsplit("/", 1)[1]]["value"]
            found.add(value.get("code") or value["error"]["code"])
    return found


async def test_every_error_answer_has_its_envelope_and_examples(document: dict[str, Any]) -> None:
    for method, path, op in operations(document):
        for status, response in op["responses"].items():
            if int(status) < 400:
                continue
            content = resolve(document, response).get("content", {})
            assert content, (method, path, status)
            for media_type, media in content.items():
                assert "schema" in media or media_type == "text/html", (method, path, status)


async def test_shared_answers_are_components_attached_by_family_and_trait(document: dict[str, Any]) -> None:
    paths = document["paths"]
    assert paths["/api/v1/me"]["get"]["responses"]["401"] == {"$ref": "#/components/responses/api-v1.Unauthorized"}
    assert paths["/api/credits/balance"]["get"]["responses"]["401"] == {
        "$ref": "#/components/responses/credits.Unauthorized"}
    assert codes(document, paths["/auth/list-sessions"]["get"]["responses"]["401"]) == {"UNAUTHORIZED"}
    for method, path, op in operations(document):
        responses = op["responses"]
        if method in WRITES:
            assert {"invalid_origin", "INVALID_ORIGIN"} & codes(document, responses["403"]), (method, path)
        if "requestBody" in op and "webhooks" not in path:
            assert {"400", "413", "415"} <= set(responses), (method, path)
        if path not in ("/health", "/api/v1/config", "/api/openapi.json", "/api/docs", "/dev/mail", "/api/dev/mail",
                    "/api/dev/clock"):
            assert {"db_unavailable", "db_busy"} <= codes(document, responses["503"]), (method, path)
    storage = document["components"]["responses"]["auth.StorageUnavailable"]
    assert storage["headers"]["Retry-After"]["required"] is True


async def test_rate_limited_routes_document_429_with_retry_after(document: dict[str, Any]) -> None:
    paths = document["paths"]
    for path in ("/auth/sign-in/email", "/auth/sign-up/email", "/auth/sign-in/magic-link",
                 "/api/v1/invites/resolve", "/api/v1/workspaces/{id}/invites"):
        assert paths[path]["post"]["responses"]["429"] == {"$ref": "#/components/responses/RateLimited"}, path
    limited = document["components"]["responses"]["RateLimited"]
    assert limited["headers"]["Retry-After"]["required"] is True
    assert limited["content"]["application/json"]["schema"] == {"$ref": "#/components/schemas/CoreError"}
    assert "429" not in paths["/api/v1/me"]["get"]["responses"]


async def test_route_specific_answers(document: dict[str, Any]) -> None:
    paths = document["paths"]
    sign_in = paths["/auth/sign-in/email"]["post"]["responses"]
    assert {"VALIDATION_ERROR", "INVALID_EMAIL", "invalid_json"} <= codes(document, sign_in["400"])
    assert "INVALID_CALLBACK_URL" in codes(document, paths["/auth/change-email"]["post"]["responses"]["403"])
    assert codes(document, paths["/auth/callback/google"]["get"]["responses"]["404"]) == {"PROVIDER_NOT_FOUND"}
    assert set(paths["/auth/callback/google"]["get"]["responses"]) == {"302", "404", "503"}
    assert "Location" in paths["/auth/callback/google"]["get"]["responses"]["302"]["headers"]
    assert set(paths["/api/dev/mail"]["delete"]["responses"]) == {"204", "403", "404"}
    session = paths["/auth/get-session"]["get"]["responses"]["200"]["content"]["application/json"]["schema"]
    assert {"type": "null"} in session["anyOf"]
    link = paths["/auth/verify-email"]["get"]["responses"]
    assert set(link["200"]["content"]) == {"application/json", "text/html"} and "302" in link
    docs = paths["/api/docs"]["get"]["responses"]
    assert set(docs["200"]["content"]) == {"text/html"} and "503" in docs
