"""Every route of the OpenAPI document, fed malformed input with a signed-in session, never answers 5xx.

Bad input must get a clear 4xx in the route family's envelope, never a 500; this walks the whole
surface so a new route cannot forget it, on every backend.
"""

from __future__ import annotations

import json
from collections.abc import Awaitable, Callable
from typing import Any

from aiohttp.test_utils import TestClient

from localcore import create_app, load_config
from localcore.clock import ManualClock
from localcore.store import Backend

ENV = {"LOCALCORE_ENV": "test", "BETTER_AUTH_SECRET": "x" * 64, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64,
       "LOCALCORE_RATE_LIMITS": "off", "TRUSTED_HOSTS": "*", "MAIL_FROM": "a@b.c",
       "MAIL_TRANSPORT_URL": "console://", "BETTER_AUTH_URL": "http://127.0.0.1"}
BODIES = [b"", b"[]", b"not json", b'{"a": NaN}', b'{"name": "\\u0000", "email": 5, "token": ["x"]}',
          json.dumps({"name": "x" * 300, "email": "a@b.c", "role": "admin", "userId": "nope", "password": 1,
                      "settings": [1], "confirm": None, "pack": {"x": 1}, "limit": -1}).encode()]
IDS = ["abc", "00000000-0000-0000-0000-000000000000", "a" * 200]
SKIP = {("post", "/auth/sign-out"), ("delete", "/api/v1/me")}  # would end the session the walk relies on


async def test_no_route_answers_5xx_to_malformed_input(
        aiohttp_client: Callable[..., Awaitable[TestClient[Any, Any]]], backend: Backend,
        clock: ManualClock) -> None:
    client = await aiohttp_client(create_app(load_config(env=ENV), backend, clock=clock))
    signed_up = await client.post("/auth/sign-up/email", json={
        "name": "Ada", "email": "ada@example.com", "password": "correct-horse-battery-staple"})
    assert signed_up.status == 200
    workspace = (await (await client.get("/api/v1/workspaces")).json())["workspaces"][0]["id"]
    document = await (await client.get("/api/openapi.json")).json()
    failures: list[tuple[str, str, bytes, int]] = []
    sent = 0
    for template, operations in document["paths"].items():
        for method in operations:
            if (method, template) in SKIP:
                continue
            for some_id in [*IDS, workspace]:
                path = template
                for name in ("id", "inviteId", "userId", "token", "checkoutId"):
                    path = path.replace("{" + name + "}", some_id)
                for body in BODIES:
                    response = await client.request(
                        method.upper(), path + "?limit=abc&token=&invite_token=", data=body,
                        headers={"Content-Type": "application/json", "Origin": "http://127.0.0.1"})
                    sent += 1
                    if response.status >= 500:
                        failures.append((method, path, body[:40], response.status))
    assert sent > 500
    assert failures == []
