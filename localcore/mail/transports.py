"""Mail transports, chosen by ``MAIL_TRANSPORT_URL`` (upstream's schemes): ``console://``,
``console-capture://<path>``, ``smtp://`` / ``smtps://`` and ``resend://<API_KEY>``.

Every transport turns its failures into :class:`MailDeliveryError` and keeps its secret (SMTP password,
Resend API key) out of every message it produces, so callers may log those messages as they are.
"""

from __future__ import annotations

import asyncio
import json
import os
import sys
import tempfile
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import datetime
from email.message import EmailMessage
from email.utils import format_datetime, make_msgid, parseaddr
from typing import Any, Protocol, TextIO
from urllib.parse import parse_qs, unquote, urlsplit

import aiohttp
import aiosmtplib

from localcore.clock import Clock, iso
from localcore.mail.devmailbox import DevMailbox, extract_links

SCHEMES = ("resend", "smtp", "smtps", "console", "console-capture")


@dataclass(frozen=True)
class MailMessage:
    to: str
    subject: str
    html: str
    text: str


class MailDeliveryError(Exception):
    """A message could not be delivered; ``status`` is the provider's HTTP status when there was one."""

    def __init__(self, message: str, status: int | None = None) -> None:
        super().__init__(message)
        self.status = status


class MailTransport(Protocol):
    scheme: str

    async def send(self, message: MailMessage, *, sender: str) -> str:
        """Deliver ``message``; returns the provider's message id. Raises :class:`MailDeliveryError`."""
        ...

    async def close(self) -> None: ...


def _redact(text: str, *secrets: str | None) -> str:
    for secret in secrets:
        if secret:
            text = text.replace(secret, "***")
    return text


def _epoch_ms(value: datetime) -> int:
    return int(value.timestamp() * 1000)


class ConsoleTransport:
    """The local default: one ``[mail:console] {json}`` line plus a readable summary with the links.

    The JSON line carries no body (it would drown the terminal); the whole message goes to the dev
    mailbox instead.
    """

    scheme = "console"
    _prefix = "mail:console"
    _id_prefix = "console"

    def __init__(self, *, clock: Clock, mailbox: DevMailbox | None = None,
                 stream: TextIO | None = None) -> None:
        self.clock = clock
        self.mailbox = mailbox if mailbox is not None else DevMailbox()
        self._stream = stream
        self._count = 0

    async def send(self, message: MailMessage, *, sender: str) -> str:
        now = self.clock()
        self._count += 1
        message_id = f"{self._id_prefix}-{self._count}-{_epoch_ms(now)}"
        record: dict[str, Any] = {
            "type": "mail_sent",
            "id": message_id,
            "to": message.to,
            "subject": message.subject,
            "timestamp": iso(now),
        }
        await self._record({**record, "from": sender, "html": message.html, "text": message.text})
        lines = [f"[{self._prefix}] {json.dumps(record)}", f"  To:      {message.to}",
                 f"  Subject: {message.subject}"]
        lines += [f"  Link:    {link}" for link in extract_links(message.text, message.html)]
        # Resolved per send so a redirected sys.stdout (pytest's capsys, the CLI) is honoured.
        stream = self._stream if self._stream is not None else sys.stdout
        print("\n".join(lines), file=stream, flush=True)
        self.mailbox.add(id=message_id, to=message.to, sender=sender, subject=message.subject,
                         text=message.text, html=message.html, created_at=now)
        return message_id

    async def _record(self, full: dict[str, Any]) -> None:
        """Hook for the capture transport; the console keeps nothing beyond the dev mailbox."""

    async def close(self) -> None:
        return None


class ConsoleCaptureTransport(ConsoleTransport):
    """For test harnesses: the console behaviour plus each full message appended as one JSON line."""

    scheme = "console-capture"
    _prefix = "mail:console-capture"
    _id_prefix = "capture"

    def __init__(self, path: str, *, clock: Clock, mailbox: DevMailbox | None = None,
                 stream: TextIO | None = None) -> None:
        super().__init__(clock=clock, mailbox=mailbox, stream=stream)
        self.path = path

    async def _record(self, full: dict[str, Any]) -> None:
        await asyncio.to_thread(self._append, json.dumps(full) + "\n")

    def _append(self, line: str) -> None:
        with open(self.path, "a", encoding="utf-8") as file:
            file.write(line)


class SmtpTransport:
    """SMTP through aiosmtplib: ``smtps://`` is implicit TLS; ``smtp://`` upgrades with STARTTLS when
    the server offers it (``?starttls=true`` requires it, ``?starttls=false`` never tries)."""

    timeout_seconds = 15.0

    def __init__(self, *, scheme: str, host: str, port: int, username: str | None, password: str | None,
                 start_tls: bool | None, clock: Clock) -> None:
        self.scheme = scheme
        self.host = host
        self.port = port
        self.username = username
        self._password = password
        self.start_tls = start_tls
        self.clock = clock

    @classmethod
    def from_url(cls, url: str, *, clock: Clock) -> SmtpTransport:
        parts = urlsplit(url)
        scheme = parts.scheme
        try:
            port = parts.port
        except ValueError:
            raise ValueError(f"Invalid port in {scheme}:// mail transport URL") from None
        if not parts.hostname:
            raise ValueError(f"The {scheme}:// mail transport URL needs a host")
        query = parse_qs(parts.query)
        start_tls: bool | None = None
        if scheme == "smtp" and "starttls" in query:
            value = query["starttls"][-1].lower()
            if value not in ("true", "false", "1", "0"):
                raise ValueError("starttls must be true or false")
            start_tls = value in ("true", "1")
        return cls(
            scheme=scheme,
            host=parts.hostname,
            port=port or (465 if scheme == "smtps" else 587),
            username=unquote(parts.username) if parts.username else None,
            password=unquote(parts.password) if parts.password else None,
            start_tls=start_tls,
            clock=clock,
        )

    def build(self, message: MailMessage, *, sender: str) -> EmailMessage:
        """A multipart/alternative message: the text part first, then the HTML part."""
        email = EmailMessage()
        email["From"] = sender
        email["To"] = message.to
        email["Subject"] = message.subject
        email["Date"] = format_datetime(self.clock())
        domain = parseaddr(sender)[1].rpartition("@")[2] or "localhost"
        email["Message-ID"] = make_msgid(domain=domain)
        email.set_content(message.text)
        email.add_alternative(message.html, subtype="html")
        return email

    async def send(self, message: MailMessage, *, sender: str) -> str:
        try:
            email = self.build(message, sender=sender)
            await aiosmtplib.send(
                email,
                hostname=self.host,
                port=self.port,
                username=self.username,
                password=self._password,
                use_tls=self.scheme == "smtps",
                start_tls=self.start_tls,
                timeout=self.timeout_seconds,
            )
        except Exception as exc:  # noqa: BLE001 - any SMTP failure becomes MailDeliveryError
            # `from None`: the original exception (and its traceback in a log) stays out of reach.
            detail = _redact(str(exc) or type(exc).__name__, self._password)
            raise MailDeliveryError(f"SMTP send failed: {detail}") from None
        return str(email["Message-ID"])

    async def close(self) -> None:
        return None

    def __repr__(self) -> str:
        return f"SmtpTransport({self.scheme}://{self.host}:{self.port})"


class ResendTransport:
    """The Resend HTTP API with upstream's retry policy: network errors and 5xx are retried, 4 attempts
    in total, waiting :attr:`retry_delays` between them; a 4xx fails at once."""

    scheme = "resend"
    retry_delays: tuple[float, ...] = (0.5, 1.0, 2.0)
    timeout_seconds = 15.0

    def __init__(self, api_key: str, *, base_url: str = "https://api.resend.com",
                 sleep: Callable[[float], Awaitable[None]] = asyncio.sleep) -> None:
        self._api_key = api_key
        self.base_url = base_url.rstrip("/")
        self._sleep = sleep
        self._session: aiohttp.ClientSession | None = None

    def _client(self) -> aiohttp.ClientSession:
        if self._session is None or self._session.closed:
            self._session = aiohttp.ClientSession(timeout=aiohttp.ClientTimeout(total=self.timeout_seconds))
        return self._session

    async def send(self, message: MailMessage, *, sender: str) -> str:
        payload = {"from": sender, "to": message.to, "subject": message.subject, "html": message.html,
                   "text": message.text}
        headers = {"Authorization": f"Bearer {self._api_key}"}
        attempts = len(self.retry_delays) + 1
        failure = ""
        last_status: int | None = None
        for attempt in range(attempts):
            if attempt:
                await self._sleep(self.retry_delays[attempt - 1])
            try:
                async with self._client().post(f"{self.base_url}/emails", json=payload,
                                               headers=headers) as response:
                    status = response.status
                    body = await response.text()
            except (aiohttp.ClientError, TimeoutError) as exc:
                reason = self._clean(str(exc) or type(exc).__name__)
                failure = f"Network error after {attempts} attempts: {reason}"
                last_status = None
                continue
            if 200 <= status < 300:
                return self._message_id(body)
            detail = self._detail(body)
            if status < 500:
                raise MailDeliveryError(f"Resend API error {status}: {detail}", status)
            failure = f"Resend API error {status} after {attempts} attempts: {detail}"
            last_status = status
        raise MailDeliveryError(failure, last_status)

    def _message_id(self, body: str) -> str:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        message_id = data.get("id") if isinstance(data, dict) else None
        if isinstance(message_id, str) and message_id:
            return message_id
        raise MailDeliveryError("Resend API returned no message id")

    def _detail(self, body: str) -> str:
        try:
            data = json.loads(body)
        except ValueError:
            data = None
        message = data.get("message") if isinstance(data, dict) else None
        if isinstance(message, str) and message:
            return self._clean(message)
        return self._clean(body[:500] or "(empty response)")

    def _clean(self, text: str) -> str:
        return _redact(text, self._api_key)

    async def close(self) -> None:
        if self._session is not None:
            await self._session.close()
            self._session = None

    def __repr__(self) -> str:
        return f"ResendTransport({self.base_url})"


def create_transport(url: str, *, clock: Clock, mailbox: DevMailbox | None = None,
                     resend_base_url: str = "https://api.resend.com",
                     stream: TextIO | None = None) -> MailTransport:
    """The transport for ``url``; ``ValueError`` for an unknown scheme or a malformed URL.

    Messages never repeat the URL, which may hold a password or an API key.
    """
    if "://" in url:
        scheme, _, rest = url.partition("://")
    else:
        # No "://": whatever follows a colon could be a secret pasted without its scheme; never echo it.
        scheme, rest = (url.partition(":")[0] if ":" in url else ""), ""
    if scheme == "console":
        return ConsoleTransport(clock=clock, mailbox=mailbox, stream=stream)
    if scheme == "console-capture":
        path = rest or os.path.join(tempfile.gettempdir(), f"test-mail-{os.getpid()}.log")
        return ConsoleCaptureTransport(path, clock=clock, mailbox=mailbox, stream=stream)
    if scheme in ("smtp", "smtps"):
        return SmtpTransport.from_url(url, clock=clock)
    if scheme == "resend":
        if not rest:
            raise ValueError("The resend:// mail transport URL needs an API key: resend://<API_KEY>")
        return ResendTransport(unquote(rest), base_url=resend_base_url)
    raise ValueError(
        f"Unknown mail transport scheme: {scheme}://. "
        "Expected resend://, smtp://, smtps://, console://, or console-capture://"
    )
