"""Set-up for the workspace API tests: one real app (``create_app``) over the plugin's backend, and people
who really signed up through ``POST /auth/sign-up/email``, each with their own cookie jar.

``open_harness`` starts the app; ``harness.person(email)`` signs someone up and returns a ``Person`` whose
``call`` answers ``(status, json)``. By default mail is off, so an invite's ``acceptUrl`` carries the raw
token; pass ``mail=True`` for the console transport and its dev mailbox.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from localcore import create_app
from localcore.clock import ManualClock
from localcore.config import Config
from localcore.logs import AccessLogger
from localcore.mail import Mailer
from localcore.store import Backend
from localcore.workspaces import WORKSPACES
from localcore.workspaces.provisioner import ProvisionRequest
from tests.api.auth_support import AuthClient, disabled_mailer, make_config

AiohttpClient = Callable[..., Awaitable[TestClient[Any, Any]]]


@dataclass
class Person:
    client: AuthClient
    id: str
    email: str
    name: str

    async def call(self, method: str, path: str, body: Any = None, *,
                   headers: dict[str, str] | None = None) -> tuple[int, Any]:
        kwargs: dict[str, Any] = {"headers": headers or {}}
        if body is not None:
            kwargs["json"] = body
        response = await self.client.http.request(method, path, **kwargs)
        payload = await response.json() if response.content_type == "application/json" else await response.text()
        return response.status, payload

    async def default_workspace(self) -> str:
        status, body = await self.call("GET", "/api/v1/workspaces")
        assert status == 200, body
        return str(next(w["id"] for w in body["workspaces"] if w["isDefault"] and w["createdBy"] == self.id))


@dataclass
class FakeProvisioner:
    """Records every call; ``fail_with`` makes the next calls raise ``RuntimeError(fail_with)``."""

    provisioned: list[ProvisionRequest] = field(default_factory=list)
    destroyed: list[str] = field(default_factory=list)
    fail_with: str | None = None
    fail_destroy_with: str | None = None

    async def provision(self, request: ProvisionRequest) -> str:
        self.provisioned.append(request)
        if self.fail_with:
            raise RuntimeError(self.fail_with)
        return f"/volumes/{request.workspace_id}"

    async def destroy(self, workspace_id: str) -> None:
        self.destroyed.append(workspace_id)
        if self.fail_destroy_with:
            raise RuntimeError(self.fail_destroy_with)


class Harness:
    def __init__(self, server: TestServer, backend: Backend, clock: ManualClock,
                 aiohttp_client: AiohttpClient) -> None:
        self.server = server
        self.backend = backend
        self.clock = clock
        self._client = aiohttp_client

    @property
    def app(self) -> web.Application:
        return self.server.app

    async def anonymous(self) -> AuthClient:
        return AuthClient(await self._client(self.server), self.backend, self.clock)

    async def person(self, email: str, name: str | None = None, *,
                     headers: dict[str, str] | None = None) -> Person:
        client = await self.anonymous()
        name = name if name is not None else email.split("@")[0].title()
        response = await client.http.post("/auth/sign-up/email", headers=headers or {},
                                          json={"name": name, "email": email, "password": STRONG_PASSWORD})
        body = await response.json()
        assert response.status == 200, body
        return Person(client, body["user"]["id"], email, name)

    async def team(self, owner: Person, /, **members: Person) -> str:
        """The owner's default workspace with the given people added directly (``role=person``)."""
        workspace_id = await owner.default_workspace()
        for role, person in members.items():
            status, body = await owner.call("POST", f"/api/v1/workspaces/{workspace_id}/members",
                                            {"userId": person.id, "role": role.rstrip("0123456789")})
            assert status == 201, body
        return workspace_id

    async def invite(self, owner: Person, workspace_id: str, email: str, role: str = "editor") -> tuple[dict[str, Any],
                                                                                                   str]:
        """Create an invite (mail off) → (the invite JSON, the raw token from ``acceptUrl``)."""
        status, body = await owner.call("POST", f"/api/v1/workspaces/{workspace_id}/invites",
                                        {"email": email, "role": role})
        assert status == 201, body
        return body["invite"], token_of(body["acceptUrl"])

    def set_provisioner(self, provisioner: Any) -> None:
        self.app[WORKSPACES].workspaces.provisioner = provisioner


STRONG_PASSWORD = "Zk8$mN!qR2xFgWpJ"


def token_of(url: str) -> str:
    path = urlsplit(url).path
    assert path.startswith("/invites/"), url
    return path.removeprefix("/invites/")


async def open_harness(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock, *,
                       config: Config | None = None, mail: bool = False,
                       mailer: Mailer | None = None) -> Harness:
    config = config or make_config()
    if mailer is None and not mail:
        mailer = disabled_mailer(config)
    app = create_app(config, backend, clock=clock, mailer=mailer)
    server = TestServer(app)
    await server.start_server(access_log_class=AccessLogger)
    return Harness(server, backend, clock, aiohttp_client)


async def gather_calls(*calls: Awaitable[tuple[int, Any]]) -> list[tuple[int, Any]]:
    return list(await asyncio.gather(*calls))
