"""``LocalcoreClient``: an aiohttp test client over a localcore app, plus the steps a child app's tests
repeat — sign a user up (verified, signed in), read the dev mailbox, add a member, move the clock.

The ``localcore_client`` fixture (``localcore.testing.app_fixtures``) gives a signed-out one; each
``await client.signed_in(email)`` is another browser (its own cookie jar) on the same server::

    async def test_editors_write(localcore_client):
        ada = await localcore_client.signed_in("ada@example.com")          # owner of her workspace
        bob = await localcore_client.signed_in("bob@example.com")
        await ada.add_member(ada.user.workspace_id, bob.user, "viewer")
        response = await bob.post(f"/api/v1/workspaces/{ada.user.workspace_id}/notes", json={"text": "hi"})
        assert response.status == 403
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

from aiohttp import web
from aiohttp.client import _RequestContextManager
from aiohttp.test_utils import TestClient, TestServer

from localcore.appkeys import CONFIG
from localcore.auth import AUTH_SERVICE

__all__ = ["DEFAULT_PASSWORD", "LocalcoreClient", "Mail", "TestUser"]

#: A password the strength check accepts (sign-up refuses weak ones).
DEFAULT_PASSWORD = "Zk8$mN!qR2xFgWpJ"


@dataclass(frozen=True, slots=True)
class TestUser:
    """Someone who signed up through ``POST /auth/sign-up/email``; ``workspace_id`` is the workspace
    sign-up made for them (they own it), or None when the app makes none."""

    __test__ = False  # not a pytest test class despite the name

    id: str
    email: str
    name: str
    password: str
    workspace_id: str | None


@dataclass(frozen=True, slots=True)
class Mail:
    """One dev-mailbox message (console mail)."""

    to: str
    subject: str
    text: str
    html: str | None
    links: tuple[str, ...]

    def link(self, containing: str = "") -> str:
        """The path and query of the first link containing ``containing`` (for ``client.get(...)``)."""
        for url in self.links:
            if containing in url:
                parts = urlsplit(url)
                return f"{parts.path}?{parts.query}" if parts.query else parts.path
        raise AssertionError(f"mail {self.subject!r} to {self.to} has no link containing {containing!r}")


class LocalcoreClient:
    """The HTTP verbs of aiohttp's ``TestClient`` (``get``, ``post``, …, relative paths) and the steps
    above. ``user`` is the signed-in user of this client (None while signed out)."""

    def __init__(self, http: TestClient[Any, Any], advance: Callable[[float], datetime],
                 opened: list[TestClient[Any, Any]], user: TestUser | None = None) -> None:
        self.http = http
        self.user = user
        self._advance = advance
        self._opened = opened

    # ------------------------------------------------------------------ plain HTTP

    @property
    def app(self) -> web.Application:
        server = self.http.server
        assert isinstance(server, TestServer)
        return server.app

    def request(self, method: str, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.http.request(method, path, **kwargs)

    def get(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.http.get(path, **kwargs)

    def post(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.http.post(path, **kwargs)

    def put(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.http.put(path, **kwargs)

    def patch(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.http.patch(path, **kwargs)

    def delete(self, path: str, **kwargs: Any) -> _RequestContextManager:
        return self.http.delete(path, **kwargs)

    async def call(self, method: str, path: str, body: Any = None) -> tuple[int, Any]:
        """``(status, decoded JSON or None)`` of one request with an optional JSON body."""
        kwargs: dict[str, Any] = {} if body is None else {"json": body}
        async with self.http.request(method, path, **kwargs) as response:
            data = await response.json() if response.content_type.endswith("json") else None
            return response.status, data

    # ------------------------------------------------------------------ users

    async def sign_up(self, email: str = "ada@example.com", password: str = DEFAULT_PASSWORD, *,
                      name: str = "", verify: bool = True) -> TestUser:
        """Sign up in this client (which is then signed in as them) and, with ``verify``, follow the
        verification link from the dev mailbox. Raises AssertionError when a step is refused."""
        status, body = await self.call("POST", "/auth/sign-up/email",
                                       {"name": name or email.split("@")[0].title(), "email": email,
                                        "password": password})
        assert status == 200, f"sign-up of {email} answered {status}: {body}"
        if verify:
            token = _query_value((await self.last_mail(body["user"]["email"], "verify")).link("verify-email"),
                                 "token")
            status, answer = await self.call("POST", "/auth/verify-email", {"token": token})
            assert status == 200, f"verifying {email} answered {status}: {answer}"
        status, listing = await self.call("GET", "/api/v1/workspaces")
        assert status == 200, f"listing {email}'s workspaces answered {status}: {listing}"
        owned = [w["id"] for w in listing["workspaces"] if w["createdBy"] == body["user"]["id"]]
        self.user = TestUser(body["user"]["id"], body["user"]["email"], body["user"]["name"], password,
                             owned[0] if owned else None)
        return self.user

    async def sign_in(self, email: str, password: str = DEFAULT_PASSWORD) -> None:
        status, body = await self.call("POST", "/auth/sign-in/email", {"email": email, "password": password})
        assert status == 200, f"sign-in of {email} answered {status}: {body}"

    async def sign_out(self) -> None:
        status, body = await self.call("POST", "/auth/sign-out", {})
        assert status == 200, f"sign-out answered {status}: {body}"
        self.user = None

    async def signed_in(self, email: str = "ada@example.com", password: str = DEFAULT_PASSWORD, *,
                        name: str = "", verify: bool = True) -> LocalcoreClient:
        """Another browser on the same server (its own cookie jar) whose user just signed up (see
        :meth:`sign_up`) and is signed in; its ``user`` says who."""
        other = await self.new_client()
        await other.sign_up(email, password, name=name, verify=verify)
        return other

    async def new_client(self) -> LocalcoreClient:
        """A signed-out client on the same server, with its own cookie jar (closed with the fixture)."""
        http: TestClient[Any, Any] = TestClient(self.http.server)
        await http.start_server()  # the server already runs: this only opens the client session
        self._opened.append(http)
        return LocalcoreClient(http, self._advance, self._opened)

    # ------------------------------------------------------------------ workspaces and credits

    async def add_member(self, workspace_id: str, user: TestUser | LocalcoreClient, role: str) -> None:
        """As this client's user (an owner of the workspace), make ``user`` a member with ``role``."""
        who = user.user if isinstance(user, LocalcoreClient) else user
        assert who is not None, "add_member: that client is signed out"
        status, body = await self.call("POST", f"/api/v1/workspaces/{workspace_id}/members",
                                       {"userId": who.id, "role": role})
        assert status == 201, f"adding {who.email} as {role} answered {status}: {body}"

    async def balance(self) -> dict[str, Any]:
        """``GET /api/credits/balance`` of this client's user (amounts in micros and in euros)."""
        status, body = await self.call("GET", "/api/credits/balance")
        assert status == 200, f"the balance answered {status}: {body}"
        return dict(body)

    # ------------------------------------------------------------------ mail and time

    async def mails(self, to: str | None = None, subject: str | None = None) -> list[Mail]:
        """Dev-mailbox messages, newest first, to ``to`` with ``subject`` in their subject (any case).
        Waits for mail still being sent in the background first."""
        await self.app[AUTH_SERVICE].drain()
        token = self.app[CONFIG].dev_mailbox_token
        async with self.http.get("/api/dev/mail", headers={"x-dev-mailbox-token": token}) as response:
            assert response.status == 200, "no dev mailbox: the app's mail transport is not console://"
            messages = (await response.json())["messages"]
        found = [Mail(m["to"], m["subject"], m["text"], m.get("html"), tuple(m["links"])) for m in messages]
        return [m for m in found
                if (to is None or m.to == to) and (subject is None or subject.lower() in m.subject.lower())]

    async def last_mail(self, to: str, subject: str | None = None) -> Mail:
        """The newest message to ``to`` (with ``subject`` in its subject); AssertionError if none."""
        found = await self.mails(to, subject)
        assert found, f"no mail to {to}" + (f" about {subject!r}" if subject else "")
        return found[0]

    def advance_clock(self, seconds: float) -> datetime:
        """Move the app's (and the backend's) clock ``seconds`` forward; returns the new now."""
        return self._advance(seconds)


def _query_value(path: str, name: str) -> str:
    from urllib.parse import parse_qs

    values = parse_qs(urlsplit(path).query).get(name)
    assert values, f"{path} has no {name}="
    return values[0]
