"""GET/DELETE /api/dev/mail on a bare app: served with console:// to the holder of the mailbox secret, 404
with anything else (another transport, no secret, a wrong secret)."""

from __future__ import annotations

import io
from collections.abc import Awaitable, Callable
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp.plugin import AiohttpClient

from localcore.clock import ManualClock
from localcore.errors import HttpError
from localcore.mail import Mailer, create_transport
from localcore.mail.routes import MailboxKey, setup_dev_mail_routes

MAILER = web.AppKey("mailer", Mailer)
SECRET = "mailbox-secret-0123456789abcdef"
OPEN = {"x-dev-mailbox-token": SECRET}
Handler = Callable[[web.Request], Awaitable[web.StreamResponse]]


@web.middleware
async def envelope(request: web.Request, handler: Handler) -> web.StreamResponse:
    # A stand-in for the real error middleware: enough to see what the route raised.
    try:
        return await handler(request)
    except HttpError as exc:
        return web.json_response({"error": exc.message, "code": exc.code, "message": exc.message},
                                 status=exc.status)


def make_app(mailer: Mailer) -> web.Application:
    app = web.Application(middlewares=[envelope])
    app[MAILER] = mailer
    setup_dev_mail_routes(app, MAILER, MailboxKey(SECRET, "boring.dev_mailbox"))
    return app


def console_mailer() -> Mailer:
    transport = create_transport("console://", clock=ManualClock(), stream=io.StringIO())
    return Mailer(transport, sender="noreply@example.com", app_name="Boring", clock=ManualClock())


async def test_lists_messages_newest_first_and_clears(aiohttp_client: AiohttpClient) -> None:
    mailer = console_mailer()
    client = await aiohttp_client(make_app(mailer))
    empty = await client.get("/api/dev/mail", headers=OPEN)
    assert empty.status == 200 and await empty.json() == {"messages": []}

    await mailer.send_magic_link("a@example.com", login_url="http://h/magic?token=t1&x=1", ttl_seconds=300)
    await mailer.send_welcome("b@example.com", get_started_url="http://h/")
    response = await client.get("/api/dev/mail", headers=OPEN)
    assert response.status == 200
    assert response.headers["Cache-Control"] == "no-store"
    messages = (await response.json())["messages"]
    assert [m["to"] for m in messages] == ["b@example.com", "a@example.com"]
    assert set(messages[1]) == {"id", "to", "from", "subject", "text", "html", "links", "createdAt"}
    assert messages[1]["links"] == ["http://h/magic?token=t1&x=1"]
    assert messages[1]["createdAt"] == "2026-01-01T00:00:00.000Z"

    cleared = await client.delete("/api/dev/mail", headers=OPEN)
    assert cleared.status == 204
    assert await (await client.get("/api/dev/mail", headers=OPEN)).json() == {"messages": []}


@pytest.mark.parametrize("url", ["smtp://u:p@127.0.0.1:25", "resend://re_key", "console-capture:///dev/null"])
async def test_other_transports_answer_404(aiohttp_client: AiohttpClient, url: str) -> None:
    transport = create_transport(url, clock=ManualClock(), stream=io.StringIO())
    mailer = Mailer(transport, sender="noreply@example.com", app_name="Boring")
    if url.startswith("console"):
        await mailer.send_welcome("a@example.com", get_started_url="http://h/secret-link")
    client = await aiohttp_client(make_app(mailer))
    response = await client.get("/api/dev/mail", headers=OPEN)
    assert response.status == 404
    body = await response.json()
    assert body == {"error": "Route GET:/api/dev/mail not found", "code": "not_found",
                    "message": "Route GET:/api/dev/mail not found"}
    assert "secret-link" not in await response.text()
    deleted = await client.delete("/api/dev/mail", headers=OPEN)
    assert deleted.status == 404
    assert (await deleted.json())["message"] == "Route DELETE:/api/dev/mail not found"
    await mailer.close()


async def test_disabled_mail_answers_404(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(make_app(Mailer(None, sender=None, app_name="Boring")))
    assert (await client.get("/api/dev/mail", headers=OPEN)).status == 404


@pytest.mark.parametrize("presented", [
    {},
    {"headers": {"x-dev-mailbox-token": "wrong"}},
    {"params": {"token": SECRET[:-1]}},
    {"headers": {"Cookie": f"boring.dev_mailbox={SECRET}"}},  # the secret itself is not the cookie value
])
async def test_without_the_secret_the_mailbox_is_an_unknown_route(aiohttp_client: AiohttpClient,
                                                                  presented: dict[str, Any]) -> None:
    mailer = console_mailer()
    await mailer.send_magic_link("a@example.com", login_url="http://h/magic?token=t1", ttl_seconds=300)
    client = await aiohttp_client(make_app(mailer))
    response = await client.get("/api/dev/mail", **presented)
    assert response.status == 404
    assert "t1" not in await response.text()
    assert (await client.delete("/api/dev/mail", **presented)).status == 404
    assert len(mailer.dev_mailbox or []) == 1


async def test_the_query_secret_opens_the_mailbox(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(make_app(console_mailer()))
    response = await client.get("/api/dev/mail", params={"token": SECRET})
    assert response.status == 200 and await response.json() == {"messages": []}


async def test_the_banner_link_trades_the_secret_for_a_strict_cookie(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(make_app(console_mailer()))
    response = await client.get("/dev/mail", params={"token": SECRET}, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/dev/mail"
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("boring.dev_mailbox=")
    assert SECRET not in cookie
    assert "HttpOnly" in cookie and "SameSite=Strict" in cookie and "Path=/" in cookie
    # The cookie alone now opens the API (the test client's jar kept it).
    assert (await client.get("/api/dev/mail")).status == 200


async def test_a_wrong_banner_secret_sets_no_cookie(aiohttp_client: AiohttpClient) -> None:
    client = await aiohttp_client(make_app(console_mailer()))
    response = await client.get("/dev/mail", params={"token": "guess"}, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/dev/mail"
    assert "Set-Cookie" not in response.headers
    assert (await client.get("/api/dev/mail")).status == 404
