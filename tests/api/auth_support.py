"""Helpers shared by the auth and /me API tests: configuration, and a client that knows the auth steps."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.test_utils import TestClient, TestServer

from localcore import load_config
from localcore.appkeys import CONFIG, MAILER
from localcore.auth import AUTH_SERVICE
from localcore.clock import ManualClock
from localcore.config import Config
from localcore.mail import Mailer
from localcore.store import Backend

STRONG_PASSWORD = "Zk8$mN!qR2xFgWpJ"
OTHER_STRONG_PASSWORD = "correct-horse-battery-staple-42"

BASE_ENV = {
    "LOCALCORE_ENV": "test",
    "BETTER_AUTH_SECRET": "test-secret-" + "s" * 52,
    "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 64,
    "MAIL_FROM": "Test <test@example.com>",
    "MAIL_TRANSPORT_URL": "console://",
    "BETTER_AUTH_URL": "http://127.0.0.1",
    "TRUSTED_HOSTS": "*",
    "CORS_ORIGINS": "https://app.example.com",
    "LOCALCORE_RATE_LIMITS": "off",
}


def make_config(**env: str) -> Config:
    return load_config(env={**BASE_ENV, **env})


def disabled_mailer(config: Config) -> Mailer:
    return Mailer(None, sender=None, app_name=config.app_name)


class AuthClient:
    """An aiohttp test client plus the steps auth tests repeat."""

    def __init__(self, client: TestClient[Any, Any], backend: Backend, clock: ManualClock) -> None:
        self.http = client
        self.backend = backend
        self.clock = clock

    @property
    def app(self) -> web.Application:
        server = self.http.server
        assert isinstance(server, TestServer)
        return server.app

    async def drain(self) -> None:
        """Wait for background mail (verification, reset, welcome)."""
        await self.app[AUTH_SERVICE].drain()

    async def sign_up(self, email: str = "ada@example.com", password: str = STRONG_PASSWORD, *,
                      name: str = "Ada Lovelace", expect: int = 200, **extra: Any) -> dict[str, Any]:
        response = await self.http.post("/auth/sign-up/email",
                                        json={"name": name, "email": email, "password": password, **extra})
        body = await response.json()
        assert response.status == expect, body
        return dict(body) if isinstance(body, dict) else {}

    async def sign_in(self, email: str = "ada@example.com", password: str = STRONG_PASSWORD, *,
                      expect: int = 200, **extra: Any) -> dict[str, Any]:
        response = await self.http.post("/auth/sign-in/email", json={"email": email, "password": password, **extra})
        body = await response.json()
        assert response.status == expect, body
        return dict(body)

    async def sign_out(self) -> None:
        response = await self.http.post("/auth/sign-out", json={})
        assert response.status == 200

    async def session(self) -> Any:
        response = await self.http.get("/auth/get-session")
        assert response.status == 200
        return await response.json()

    async def mails(self, to: str | None = None, subject: str | None = None) -> list[dict[str, Any]]:
        """Dev-mailbox messages (newest first), filtered by recipient and subject substring."""
        await self.drain()
        token = self.app[CONFIG].dev_mailbox_token
        response = await self.http.get("/api/dev/mail", headers={"x-dev-mailbox-token": token})
        assert response.status == 200
        messages = (await response.json())["messages"]
        return [m for m in messages
                if (to is None or m["to"] == to) and (subject is None or subject.lower() in m["subject"].lower())]

    async def link(self, to: str, subject: str, fragment: str) -> str:
        """The path + query of the newest mailed link containing ``fragment``."""
        for message in await self.mails(to, subject):
            for url in message["links"]:
                if fragment in url:
                    parts = urlsplit(url)
                    return f"{parts.path}?{parts.query}" if parts.query else parts.path
        raise AssertionError(f"no mail to {to} about {subject!r} with a link containing {fragment!r}")

    def cookie(self, name: str) -> str | None:
        for morsel in self.http.session.cookie_jar:
            if morsel.key == name:
                return morsel.value
        return None


ClientFactory = Callable[..., Awaitable[AuthClient]]


def mailer_of(client: AuthClient) -> Mailer:
    return client.app[MAILER]
