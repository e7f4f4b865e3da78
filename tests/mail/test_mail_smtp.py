"""smtp:// and smtps:// through aiosmtplib against a real aiosmtpd server on loopback."""

from __future__ import annotations

import asyncio
import socket
from collections.abc import AsyncIterator
from dataclasses import dataclass, field
from email import message_from_bytes, policy
from email.message import EmailMessage
from typing import Any

import pytest
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

from localcore.clock import ManualClock
from localcore.mail import MailDeliveryError, MailMessage, create_transport
from localcore.mail.transports import SmtpTransport

PASSWORD = "s3cr3t-Pa55word"


@dataclass
class Inbox:
    port: int
    envelopes: list[Envelope] = field(default_factory=list)
    logins: list[tuple[str, str]] = field(default_factory=list)

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        self.envelopes.append(envelope)
        return "250 Message accepted for delivery"

    def authenticate(self, server: SMTP, session: Session, envelope: Envelope, mechanism: str,
                     auth_data: Any) -> AuthResult:
        assert isinstance(auth_data, LoginPassword)
        login, password = auth_data.login.decode(), auth_data.password.decode()
        self.logins.append((login, password))
        return AuthResult(success=(login, password) == ("mailer", PASSWORD), handled=False)

    def received(self) -> EmailMessage:
        assert len(self.envelopes) == 1
        content = self.envelopes[0].original_content
        assert isinstance(content, bytes)
        parsed = message_from_bytes(content, policy=policy.default)
        assert isinstance(parsed, EmailMessage)
        return parsed


async def start_server(*, auth: bool) -> tuple[Inbox, asyncio.Server]:
    inbox = Inbox(port=0)
    loop = asyncio.get_running_loop()

    def protocol() -> SMTP:
        if auth:
            return SMTP(inbox, hostname="localhost", authenticator=inbox.authenticate,
                        auth_require_tls=False, loop=loop)
        return SMTP(inbox, hostname="localhost", loop=loop)

    server = await loop.create_server(protocol, "127.0.0.1", 0)
    inbox.port = server.sockets[0].getsockname()[1]
    return inbox, server


@pytest.fixture
async def smtp_server() -> AsyncIterator[Inbox]:
    inbox, server = await start_server(auth=False)
    yield inbox
    server.close()
    await server.wait_closed()


@pytest.fixture
async def smtp_auth_server() -> AsyncIterator[Inbox]:
    inbox, server = await start_server(auth=True)
    yield inbox
    server.close()
    await server.wait_closed()


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


MESSAGE = MailMessage(to="ann@example.com", subject="Verify your Boring email address",
                      html="<!DOCTYPE html><p>Hello <b>HTML</b> part</p>", text="Hello text part\n")


def check_received(received: EmailMessage) -> None:
    assert received["From"] == "Boring <noreply@example.com>"
    assert received["To"] == "ann@example.com"
    assert received["Subject"] == "Verify your Boring email address"
    assert received.get_content_type() == "multipart/alternative"
    parts = list(received.iter_parts())
    assert [part.get_content_type() for part in parts] == ["text/plain", "text/html"]
    assert isinstance(parts[0], EmailMessage) and isinstance(parts[1], EmailMessage)
    assert parts[0].get_content().strip() == "Hello text part"
    assert "<p>Hello <b>HTML</b> part</p>" in parts[1].get_content()


async def test_smtp_delivers_a_multipart_message(smtp_server: Inbox) -> None:
    transport = create_transport(f"smtp://127.0.0.1:{smtp_server.port}", clock=ManualClock())
    assert transport.scheme == "smtp"
    message_id = await transport.send(MESSAGE, sender="Boring <noreply@example.com>")

    received = smtp_server.received()
    check_received(received)
    assert smtp_server.envelopes[0].mail_from == "noreply@example.com"
    assert smtp_server.envelopes[0].rcpt_tos == ["ann@example.com"]
    assert received["Message-ID"] == message_id and message_id.endswith("@example.com>")
    assert received["Date"] == "Thu, 01 Jan 2026 00:00:00 +0000"
    await transport.close()


async def test_smtp_authenticates_with_the_url_credentials(smtp_auth_server: Inbox) -> None:
    url = f"smtp://mailer:{PASSWORD}@127.0.0.1:{smtp_auth_server.port}"
    transport = create_transport(url, clock=ManualClock())
    await transport.send(MESSAGE, sender="Boring <noreply@example.com>")
    assert smtp_auth_server.logins == [("mailer", PASSWORD)]
    check_received(smtp_auth_server.received())


async def test_smtp_percent_encoded_credentials_are_decoded(smtp_auth_server: Inbox) -> None:
    url = f"smtp://mailer:{PASSWORD.replace('-', '%2D')}@127.0.0.1:{smtp_auth_server.port}"
    await create_transport(url, clock=ManualClock()).send(MESSAGE, sender="noreply@example.com")
    assert smtp_auth_server.logins == [("mailer", PASSWORD)]


async def test_smtp_wrong_password_is_a_delivery_error_without_the_password(
    smtp_auth_server: Inbox,
) -> None:
    url = f"smtp://mailer:wrong-{PASSWORD}@127.0.0.1:{smtp_auth_server.port}"
    with pytest.raises(MailDeliveryError) as caught:
        await create_transport(url, clock=ManualClock()).send(MESSAGE, sender="noreply@example.com")
    assert str(caught.value).startswith("SMTP send failed: ")
    assert PASSWORD not in str(caught.value)
    assert caught.value.__cause__ is None and caught.value.__suppress_context__
    assert smtp_auth_server.envelopes == []


async def test_smtp_refused_connection_is_a_delivery_error_without_the_password() -> None:
    url = f"smtp://mailer:{PASSWORD}@127.0.0.1:{closed_port()}"
    transport = create_transport(url, clock=ManualClock())
    with pytest.raises(MailDeliveryError) as caught:
        await transport.send(MESSAGE, sender="noreply@example.com")
    assert str(caught.value).startswith("SMTP send failed: ")
    assert PASSWORD not in str(caught.value)
    assert PASSWORD not in repr(transport)
    assert caught.value.status is None


async def test_smtps_uses_implicit_tls(smtp_server: Inbox) -> None:
    # The loopback server speaks plain SMTP, so an implicit-TLS handshake must fail before any mail.
    transport = create_transport(f"smtps://127.0.0.1:{smtp_server.port}", clock=ManualClock())
    assert transport.scheme == "smtps"
    with pytest.raises(MailDeliveryError, match=r"^SMTP send failed: "):
        await transport.send(MESSAGE, sender="noreply@example.com")
    assert smtp_server.envelopes == []


async def test_required_starttls_fails_when_the_server_does_not_offer_it(smtp_server: Inbox) -> None:
    transport = create_transport(f"smtp://127.0.0.1:{smtp_server.port}?starttls=true", clock=ManualClock())
    with pytest.raises(MailDeliveryError, match=r"^SMTP send failed: "):
        await transport.send(MESSAGE, sender="noreply@example.com")
    assert smtp_server.envelopes == []


async def test_a_header_injection_attempt_is_refused(smtp_server: Inbox) -> None:
    transport = create_transport(f"smtp://127.0.0.1:{smtp_server.port}", clock=ManualClock())
    bad = MailMessage(to="ann@example.com\r\nBcc: eve@example.com", subject="Hi", html="<p>x</p>", text="x")
    with pytest.raises(MailDeliveryError):
        await transport.send(bad, sender="noreply@example.com")
    assert smtp_server.envelopes == []


def test_url_parsing_defaults() -> None:
    smtp = SmtpTransport.from_url("smtp://mail.example.com", clock=ManualClock())
    assert (smtp.host, smtp.port, smtp.username, smtp.start_tls) == ("mail.example.com", 587, None, None)
    smtps = SmtpTransport.from_url("smtps://u:p@mail.example.com", clock=ManualClock())
    assert (smtps.port, smtps.username) == (465, "u")
    never = SmtpTransport.from_url("smtp://mail.example.com:2525?starttls=false", clock=ManualClock())
    assert (never.port, never.start_tls) == (2525, False)
    with pytest.raises(ValueError, match="needs a host"):
        SmtpTransport.from_url("smtp://", clock=ManualClock())
    with pytest.raises(ValueError) as caught:
        SmtpTransport.from_url(f"smtp://u:{PASSWORD}@mail.example.com:notaport", clock=ManualClock())
    assert PASSWORD not in str(caught.value)
