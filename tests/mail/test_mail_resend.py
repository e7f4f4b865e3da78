"""resend://KEY against a fake Resend API on loopback: request shape, retries, errors, no key leaks."""

from __future__ import annotations

import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from typing import Any

import pytest
from aiohttp import web
from pytest_aiohttp.plugin import AiohttpServer

from localcore.clock import ManualClock
from localcore.mail import MailDeliveryError, MailMessage, create_transport
from localcore.mail.transports import ResendTransport

API_KEY = "re_TestKey_123456789"
MESSAGE = MailMessage(to="ann@example.com", subject="Sign in to Boring", html="<p>hi</p>", text="hi")
SENDER = "Boring <noreply@example.com>"


@dataclass
class FakeResend:
    """Answers each POST /emails with the next (status, body) of ``replies`` (the last one repeats)."""

    replies: list[tuple[int, Any]] = field(default_factory=lambda: [(200, {"id": "msg_1"})])
    calls: list[dict[str, Any]] = field(default_factory=list)
    base_url: str = ""

    async def emails(self, request: web.Request) -> web.Response:
        self.calls.append({"authorization": request.headers.get("Authorization"),
                           "content_type": request.content_type, "body": await request.json()})
        status, body = self.replies[min(len(self.calls), len(self.replies)) - 1]
        if isinstance(body, str):
            return web.Response(status=status, text=body)
        return web.json_response(body, status=status)


@pytest.fixture
async def resend(aiohttp_server: AiohttpServer) -> FakeResend:
    fake = FakeResend()
    app = web.Application()
    app.router.add_post("/emails", fake.emails)
    server = await aiohttp_server(app)
    fake.base_url = str(server.make_url("")).rstrip("/")
    return fake


@dataclass
class Sleeps:
    delays: list[float] = field(default_factory=list)

    async def __call__(self, seconds: float) -> None:
        self.delays.append(seconds)


@pytest.fixture
async def sleeps() -> Sleeps:
    return Sleeps()


@pytest.fixture
async def transport_for(sleeps: Sleeps) -> AsyncIterator[Any]:
    made: list[ResendTransport] = []

    def make(base_url: str) -> ResendTransport:
        made.append(ResendTransport(API_KEY, base_url=base_url, sleep=sleeps))
        return made[-1]

    yield make
    for transport in made:
        await transport.close()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


async def test_create_transport_builds_resend_with_the_base_url(resend: FakeResend) -> None:
    transport = create_transport(f"resend://{API_KEY}", clock=ManualClock(), resend_base_url=resend.base_url)
    assert transport.scheme == "resend"
    try:
        assert await transport.send(MESSAGE, sender=SENDER) == "msg_1"
    finally:
        await transport.close()
    assert API_KEY not in repr(transport)


async def test_success_posts_the_message_with_the_bearer_key(resend: FakeResend, transport_for: Any,
                                                             sleeps: Sleeps) -> None:
    transport = transport_for(resend.base_url)
    assert await transport.send(MESSAGE, sender=SENDER) == "msg_1"
    assert resend.calls == [{
        "authorization": f"Bearer {API_KEY}",
        "content_type": "application/json",
        "body": {"from": SENDER, "to": "ann@example.com", "subject": "Sign in to Boring", "html": "<p>hi</p>",
                 "text": "hi"},
    }]
    assert sleeps.delays == []


async def test_a_4xx_fails_at_once_without_retry(resend: FakeResend, transport_for: Any,
                                                 sleeps: Sleeps) -> None:
    resend.replies = [(422, {"statusCode": 422, "name": "validation_error",
                             "message": f"Invalid `to` field (key {API_KEY})"})]
    with pytest.raises(MailDeliveryError) as caught:
        await transport_for(resend.base_url).send(MESSAGE, sender=SENDER)
    assert len(resend.calls) == 1 and sleeps.delays == []
    assert caught.value.status == 422
    assert str(caught.value).startswith("Resend API error 422: Invalid `to` field")
    assert API_KEY not in str(caught.value)


async def test_a_503_then_200_succeeds_after_two_calls(resend: FakeResend, transport_for: Any,
                                                       sleeps: Sleeps) -> None:
    resend.replies = [(503, "unavailable"), (200, {"id": "msg_2"})]
    assert await transport_for(resend.base_url).send(MESSAGE, sender=SENDER) == "msg_2"
    assert len(resend.calls) == 2
    assert sleeps.delays == [0.5]


async def test_5xx_every_time_gives_up_after_four_attempts(resend: FakeResend, transport_for: Any,
                                                           sleeps: Sleeps) -> None:
    resend.replies = [(500, {"message": "boom"})]
    with pytest.raises(MailDeliveryError) as caught:
        await transport_for(resend.base_url).send(MESSAGE, sender=SENDER)
    assert len(resend.calls) == 4
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert str(caught.value) == "Resend API error 500 after 4 attempts: boom"
    assert caught.value.status == 500


async def test_a_network_error_every_time_gives_up_after_four_attempts(transport_for: Any,
                                                                       sleeps: Sleeps) -> None:
    transport = transport_for(f"http://127.0.0.1:{closed_port()}")
    with pytest.raises(MailDeliveryError) as caught:
        await transport.send(MESSAGE, sender=SENDER)
    assert str(caught.value).startswith("Network error after 4 attempts: ")
    assert sleeps.delays == [0.5, 1.0, 2.0]
    assert caught.value.status is None
    assert API_KEY not in str(caught.value)


async def test_a_network_error_then_success_recovers(resend: FakeResend, transport_for: Any,
                                                     sleeps: Sleeps) -> None:
    # The first attempt goes to a closed port; switching the base URL mid-retry models a transient outage.
    transport = transport_for(f"http://127.0.0.1:{closed_port()}")

    async def sleep_then_heal(seconds: float) -> None:
        sleeps.delays.append(seconds)
        transport.base_url = resend.base_url

    transport._sleep = sleep_then_heal
    assert await transport.send(MESSAGE, sender=SENDER) == "msg_1"
    assert len(resend.calls) == 1 and sleeps.delays == [0.5]


async def test_a_2xx_without_an_id_is_a_delivery_error(resend: FakeResend, transport_for: Any) -> None:
    resend.replies = [(200, "not json")]
    with pytest.raises(MailDeliveryError, match="no message id"):
        await transport_for(resend.base_url).send(MESSAGE, sender=SENDER)


async def test_one_session_is_reused_and_closed(resend: FakeResend, transport_for: Any) -> None:
    transport = transport_for(resend.base_url)
    await transport.send(MESSAGE, sender=SENDER)
    session = transport._session
    await transport.send(MESSAGE, sender=SENDER)
    assert transport._session is session is not None
    await transport.close()
    assert session.closed and transport._session is None


def test_default_retry_delays_are_upstreams() -> None:
    assert ResendTransport.retry_delays == (0.5, 1.0, 2.0)


def test_resend_url_needs_a_key() -> None:
    with pytest.raises(ValueError, match="needs an API key"):
        create_transport("resend://", clock=ManualClock())
