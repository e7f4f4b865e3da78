"""console:// and console-capture://: the terminal line, ids, the dev mailbox and the capture file."""

from __future__ import annotations

import io
import json
from datetime import UTC, datetime
from pathlib import Path

import pytest

from localcore.clock import ManualClock
from localcore.mail import DevMailbox, MailMessage, create_transport
from localcore.mail.devmailbox import extract_links

START = datetime(2026, 3, 4, 5, 6, 7, 890000, tzinfo=UTC)
EPOCH_MS = int(START.timestamp() * 1000)

LINK = "https://app.example.com/auth/magic-link/verify?token=abc&callbackURL=%2Fdash"


def message(to: str = "ann@example.com", subject: str = "Sign in to Boring") -> MailMessage:
    return MailMessage(
        to=to,
        subject=subject,
        html=f'<!DOCTYPE html><p><a href="{LINK.replace("&", "&amp;")}">Sign in</a></p><p>SECRET-HTML</p>',
        text=f"Sign in: {LINK}\nSECRET-TEXT\n",
    )


async def test_console_prints_one_json_line_and_a_summary() -> None:
    out = io.StringIO()
    transport = create_transport("console://", clock=ManualClock(START), stream=out)
    assert transport.scheme == "console"
    message_id = await transport.send(message(), sender="Boring <noreply@example.com>")

    assert message_id == f"console-1-{EPOCH_MS}"
    lines = out.getvalue().splitlines()
    assert lines[0].startswith("[mail:console] {")
    record = json.loads(lines[0].removeprefix("[mail:console] "))
    assert record == {"type": "mail_sent", "id": message_id, "to": "ann@example.com",
                      "subject": "Sign in to Boring", "timestamp": "2026-03-04T05:06:07.890Z"}
    summary = "\n".join(lines[1:])
    assert "To:      ann@example.com" in summary
    assert "Subject: Sign in to Boring" in summary
    assert f"Link:    {LINK}" in summary
    # The bodies stay out of the terminal.
    assert "SECRET-HTML" not in out.getvalue() and "SECRET-TEXT" not in out.getvalue()


async def test_console_defaults_to_stdout(capsys: pytest.CaptureFixture[str]) -> None:
    transport = create_transport("console://", clock=ManualClock(START))
    message_id = await transport.send(message(), sender="noreply@example.com")
    assert message_id.startswith("console-")
    out = capsys.readouterr().out
    assert out.startswith("[mail:console] ")
    assert '"to": "ann@example.com"' in out


async def test_console_keeps_messages_in_the_mailbox_newest_first() -> None:
    clock = ManualClock(START)
    mailbox = DevMailbox()
    transport = create_transport("console://", clock=clock, mailbox=mailbox, stream=io.StringIO())
    first = await transport.send(message(to="a@example.com", subject="one"), sender="noreply@example.com")
    clock.advance(seconds=1)
    second = await transport.send(message(to="b@example.com", subject="two"), sender="noreply@example.com")

    assert first.startswith("console-1-") and second.startswith("console-2-") and first != second
    messages = mailbox.messages()
    assert [m["id"] for m in messages] == [second, first]
    newest = messages[0]
    assert newest == {
        "id": second,
        "to": "b@example.com",
        "from": "noreply@example.com",
        "subject": "two",
        "text": message().text,
        "html": message().html,
        "links": [LINK],
        "createdAt": "2026-03-04T05:06:08.890Z",
    }


async def test_console_without_a_mailbox_makes_its_own() -> None:
    transport = create_transport("console://", clock=ManualClock(START), stream=io.StringIO())
    await transport.send(message(), sender="noreply@example.com")
    assert len(transport.mailbox) == 1  # type: ignore[attr-defined]


async def test_console_capture_appends_the_full_message(tmp_path: Path) -> None:
    path = tmp_path / "mail.log"
    out = io.StringIO()
    mailbox = DevMailbox()
    transport = create_transport(f"console-capture://{path}", clock=ManualClock(START), stream=out,
                                 mailbox=mailbox)
    assert transport.scheme == "console-capture"
    first = await transport.send(message(), sender="noreply@example.com")
    second = await transport.send(message(to="b@example.com"), sender="noreply@example.com")

    assert first == f"capture-1-{EPOCH_MS}" and second == f"capture-2-{EPOCH_MS}"
    assert out.getvalue().startswith("[mail:console-capture] {")
    lines = path.read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    record = json.loads(lines[0])
    assert record["type"] == "mail_sent" and record["id"] == first
    assert record["to"] == "ann@example.com" and record["subject"] == "Sign in to Boring"
    assert record["html"] == message().html and record["text"] == message().text
    assert record["from"] == "noreply@example.com"
    assert record["timestamp"] == "2026-03-04T05:06:07.890Z"
    assert json.loads(lines[1])["to"] == "b@example.com"
    assert len(mailbox) == 2


def test_links_are_every_url_deduplicated_in_order_and_unescaped() -> None:
    text = "Open https://a.example/x?y=1&z=2. Or http://b.example/ (mirror)\nhttps://a.example/x?y=1&z=2"
    html = ('<a href="https://a.example/x?y=1&amp;z=2">x</a> <a href="https://c.example/p?q=&quot;1&quot;">c</a>'
            '<img alt="mailto:no@example.com">')
    assert extract_links(text, html) == [
        "https://a.example/x?y=1&z=2",
        "http://b.example/",
        'https://c.example/p?q="1"',
    ]


def test_mailbox_is_bounded_and_clearable() -> None:
    mailbox = DevMailbox(capacity=3)
    for n in range(5):
        mailbox.add(id=f"m{n}", to="a@example.com", sender="s@example.com", subject=str(n), text="",
                    html="", created_at=START)
    assert [m["id"] for m in mailbox.messages()] == ["m4", "m3", "m2"]
    mailbox.clear()
    assert mailbox.messages() == []
