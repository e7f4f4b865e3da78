"""A mail the transport cannot deliver is answered honestly: 502 ``MAIL_DELIVERY_FAILED`` in the auth
envelope, never a 500 with a stack trace, and the link it would have carried appears nowhere."""

from __future__ import annotations

import logging

import pytest

from localcore.mail import MailDeliveryError, Mailer, MailMessage
from tests.api.auth_support import ClientFactory, make_config


class RefusingTransport:
    scheme = "smtp"

    def __init__(self) -> None:
        self.attempts: list[MailMessage] = []

    async def send(self, message: MailMessage, *, sender: str) -> str:
        self.attempts.append(message)
        raise MailDeliveryError("SMTP send failed: connection refused")

    async def close(self) -> None:
        return None


async def test_an_undeliverable_magic_link_is_a_502_without_a_trace(make_client: ClientFactory,
                                                                    caplog: pytest.LogCaptureFixture) -> None:
    transport = RefusingTransport()
    client = await make_client(make_config(), mailer=Mailer(transport, sender="T <t@example.com>", app_name="A"))
    caplog.set_level(logging.INFO)
    response = await client.http.post("/auth/sign-in/magic-link", json={"email": "ada@example.com"})
    body = await response.json()
    assert (response.status, body["code"]) == (502, "MAIL_DELIVERY_FAILED")
    assert set(body) == {"code", "message"}
    assert len(transport.attempts) == 1
    sent_link = next(line for line in transport.attempts[0].text.splitlines() if "token=" in line)
    token = sent_link.split("token=", 1)[1].split("&", 1)[0]
    assert "Traceback" not in caplog.text and token not in caplog.text
