"""Mailer: templates through a real transport, the disabled no-ops and the failure policy."""

from __future__ import annotations

import io
import logging
import socket
from datetime import UTC, datetime

import pytest
from aiohttp import web
from pytest_aiohttp.plugin import AiohttpServer

from localcore.clock import ManualClock
from localcore.mail import DevMailbox, MailDeliveryError, Mailer, create_transport

CLOCK = ManualClock(datetime(2027, 6, 1, tzinfo=UTC))
TOKEN = "inv_9f8e7d6c5b4a39281706"
ACCEPT_URL = f"http://127.0.0.1:8787/invites/{TOKEN}"


def console_mailer(sender: str | None = "Boring <noreply@example.com>") -> Mailer:
    transport = create_transport("console://", clock=CLOCK, stream=io.StringIO())
    return Mailer(transport, sender=sender, app_name="Boring", clock=CLOCK)


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def failing_mailer(logger: logging.Logger | None = None) -> Mailer:
    transport = create_transport(f"smtp://u:pw-secret@127.0.0.1:{closed_port()}", clock=CLOCK)
    return Mailer(transport, sender="noreply@example.com", app_name="Boring", logger=logger, clock=CLOCK)


async def test_every_email_reaches_the_dev_mailbox() -> None:
    mailer = console_mailer()
    assert mailer.enabled
    mailbox = mailer.dev_mailbox
    assert isinstance(mailbox, DevMailbox)

    verify = "http://127.0.0.1:8787/auth/verify-email?token=v1&callbackURL=%2F"
    await mailer.send_verify_email("a@example.com", verify_url=verify, ttl_seconds=86400)
    await mailer.send_reset_password("a@example.com", reset_url="http://h/reset/r1", ttl_seconds=3600)
    await mailer.send_magic_link("a@example.com", login_url="http://h/magic?token=m1", ttl_seconds=300)
    assert await mailer.send_workspace_invite("b@example.com", accept_url=ACCEPT_URL, inviter_name="Ann",
                                              workspace_name="Acme", role="admin", ttl_days=7)
    assert await mailer.send_welcome("a@example.com", get_started_url="http://h/")

    messages = mailbox.messages()
    assert [m["subject"] for m in messages] == [
        "Welcome to Boring",
        "Ann invited you to Acme",
        "Sign in to Boring",
        "Reset your Boring password",
        "Verify your Boring email address",
    ]
    assert all(m["from"] == "Boring <noreply@example.com>" for m in messages)
    assert messages[1]["to"] == "b@example.com" and messages[1]["links"] == [ACCEPT_URL]
    assert messages[4]["links"] == [verify]
    assert "expires in 24 hours" in messages[4]["text"]
    assert "expires in 1 hour" in messages[3]["text"]
    assert "expires in 5 minutes" in messages[2]["text"]
    assert "© 2027 Acme. All rights reserved." in messages[1]["html"]
    assert "© 2027 Boring. All rights reserved." in messages[0]["text"]


@pytest.mark.parametrize("mailer", [
    Mailer(None, sender="noreply@example.com", app_name="Boring"),
    console_mailer(sender=None),
    console_mailer(sender=""),
], ids=["no-transport", "no-sender", "empty-sender"])
async def test_disabled_mailer_sends_nothing(mailer: Mailer) -> None:
    assert not mailer.enabled
    await mailer.send_verify_email("a@example.com", verify_url="http://h/v", ttl_seconds=60)
    await mailer.send_reset_password("a@example.com", reset_url="http://h/r", ttl_seconds=60)
    await mailer.send_magic_link("a@example.com", login_url="http://h/m", ttl_seconds=60)
    assert await mailer.send_workspace_invite("a@example.com", accept_url=ACCEPT_URL, inviter_name="A",
                                              workspace_name="W", role="member", ttl_days=1) is False
    assert await mailer.send_welcome("a@example.com", get_started_url="http://h/") is False
    if mailer.dev_mailbox is not None:
        assert mailer.dev_mailbox.messages() == []
    await mailer.close()


async def test_auth_mails_raise_on_delivery_failure() -> None:
    mailer = failing_mailer()
    with pytest.raises(MailDeliveryError, match=r"^SMTP send failed"):
        await mailer.send_verify_email("a@example.com", verify_url="http://h/v", ttl_seconds=3600)
    with pytest.raises(MailDeliveryError):
        await mailer.send_reset_password("a@example.com", reset_url="http://h/r", ttl_seconds=3600)
    with pytest.raises(MailDeliveryError):
        await mailer.send_magic_link("a@example.com", login_url="http://h/m", ttl_seconds=300)


async def test_invite_failure_is_logged_without_the_link_and_swallowed(
    caplog: pytest.LogCaptureFixture,
) -> None:
    mailer = failing_mailer()
    with caplog.at_level(logging.DEBUG, logger="localcore.mail"):
        sent = await mailer.send_workspace_invite("b@example.com", accept_url=ACCEPT_URL,
                                                  inviter_name="Ann", workspace_name="Acme", role="member",
                                                  ttl_days=7)
    assert sent is False
    failures = [r for r in caplog.records if r.levelno == logging.WARNING]
    assert len(failures) == 1
    logged = failures[0].getMessage()
    assert "workspace-invite" in logged and "b@example.com" in logged and "SMTP send failed" in logged
    assert failures[0].exc_info is None
    assert TOKEN not in caplog.text and ACCEPT_URL not in caplog.text and "pw-secret" not in caplog.text


async def test_welcome_failure_is_logged_and_swallowed(caplog: pytest.LogCaptureFixture) -> None:
    logger = logging.getLogger("test.mailer")
    with caplog.at_level(logging.WARNING, logger="test.mailer"):
        sent = await failing_mailer(logger).send_welcome("a@example.com", get_started_url="http://h/")
    assert sent is False
    assert [r.name for r in caplog.records] == ["test.mailer"]
    assert "welcome" in caplog.records[0].getMessage()


async def test_successful_sends_log_no_link(caplog: pytest.LogCaptureFixture) -> None:
    mailer = console_mailer()
    with caplog.at_level(logging.DEBUG, logger="localcore.mail"):
        await mailer.send_workspace_invite("b@example.com", accept_url=ACCEPT_URL, inviter_name="Ann",
                                           workspace_name="Acme", role="member", ttl_days=7)
    assert "workspace-invite" in caplog.text
    assert TOKEN not in caplog.text


def test_dev_mailbox_only_with_console() -> None:
    assert console_mailer().dev_mailbox is not None
    capture = create_transport("console-capture:///dev/null", clock=CLOCK, stream=io.StringIO())
    assert Mailer(capture, sender="s@example.com", app_name="A").dev_mailbox is None
    assert failing_mailer().dev_mailbox is None
    assert Mailer(None, sender=None, app_name="A").dev_mailbox is None


def test_unknown_scheme_lists_every_scheme() -> None:
    with pytest.raises(ValueError) as caught:
        create_transport("sendgrid://key-123", clock=CLOCK)
    assert str(caught.value) == (
        "Unknown mail transport scheme: sendgrid://. "
        "Expected resend://, smtp://, smtps://, console://, or console-capture://"
    )
    with pytest.raises(ValueError) as no_scheme:
        create_transport("re_secretkey", clock=CLOCK)
    assert "re_secretkey" not in str(no_scheme.value)


async def test_invite_failure_log_redacts_a_link_the_provider_echoes(
    aiohttp_server: AiohttpServer, caplog: pytest.LogCaptureFixture,
) -> None:
    async def echo_rejection(request: web.Request) -> web.Response:
        body = await request.json()
        return web.json_response({"message": f"Rejected content: {body['text'][-400:]}"}, status=422)

    app = web.Application()
    app.router.add_post("/emails", echo_rejection)
    server = await aiohttp_server(app)
    transport = create_transport("resend://re_key", clock=CLOCK, resend_base_url=str(server.make_url("")))
    mailer = Mailer(transport, sender="noreply@example.com", app_name="Boring", clock=CLOCK)
    with caplog.at_level(logging.WARNING, logger="localcore.mail"):
        sent = await mailer.send_workspace_invite("b@example.com", accept_url=ACCEPT_URL, inviter_name="Ann",
                                                  workspace_name="Acme", role="member", ttl_days=7)
    await mailer.close()
    assert sent is False
    assert "Resend API error 422: Rejected content" in caplog.text
    assert "[redacted]" in caplog.text
    assert TOKEN not in caplog.text
