"""The one object the auth and workspace services talk to: render a template, hand it to the transport.

Failure policy (as upstream): verification, reset and magic-link mails are part of the auth request,
so a delivery failure raises :class:`MailDeliveryError` and that request fails. Invite and welcome mails
are side effects: a failure is logged and swallowed (the invite response then still carries what the
owner needs). Logs never carry the link, which holds a live token (docs/compatibility.md, fix 2).
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from urllib.parse import urlsplit

from localcore.clock import Clock, system_clock
from localcore.mail.devmailbox import DevMailbox
from localcore.mail.templates import (
    RenderedEmail,
    render_magic_link,
    render_reset_password,
    render_verify_email,
    render_welcome,
    render_workspace_invite,
)
from localcore.mail.transports import ConsoleTransport, MailMessage, MailTransport


class Mailer:
    """Templates plus a transport. Without a transport or a sender it is disabled and sends nothing."""

    def __init__(self, transport: MailTransport | None, *, sender: str | None, app_name: str,
                 logger: logging.Logger | None = None, clock: Clock = system_clock) -> None:
        self.transport = transport
        self.sender = sender
        self.app_name = app_name
        self.logger = logger or logging.getLogger("localcore.mail")
        self.clock = clock
        #: Told of every delivery attempt (``True`` = handed to the transport); the app's metrics.
        self.on_delivery: Callable[[bool], None] | None = None

    @property
    def enabled(self) -> bool:
        return self.transport is not None and bool(self.sender)

    @property
    def dev_mailbox(self) -> DevMailbox | None:
        """The mailbox ``GET /api/dev/mail`` shows; only ``console://`` has one (capture is for tests)."""
        transport = self.transport
        if isinstance(transport, ConsoleTransport) and transport.scheme == "console":
            return transport.mailbox
        return None

    async def _deliver(self, to: str, email: RenderedEmail, *, kind: str) -> None:
        transport, sender = self.transport, self.sender
        if transport is None or not sender:
            raise RuntimeError("mail is disabled")  # callers check `enabled` first
        message = MailMessage(to=to, subject=email.subject, html=email.html, text=email.text)
        try:
            message_id = await transport.send(message, sender=sender)
        except BaseException:
            if self.on_delivery is not None:
                self.on_delivery(False)
            raise
        if self.on_delivery is not None:
            self.on_delivery(True)
        self.logger.info("mail sent: %s to %s (id %s)", kind, to, message_id)

    async def send_verify_email(self, to: str, *, verify_url: str, ttl_seconds: int) -> None:
        if not self.enabled:
            return
        email = render_verify_email(app_name=self.app_name, verify_url=verify_url, ttl_seconds=ttl_seconds,
                                    year=self.clock().year)
        await self._deliver(to, email, kind="verify-email")

    async def send_reset_password(self, to: str, *, reset_url: str, ttl_seconds: int) -> None:
        if not self.enabled:
            return
        email = render_reset_password(app_name=self.app_name, reset_url=reset_url, ttl_seconds=ttl_seconds,
                                      year=self.clock().year)
        await self._deliver(to, email, kind="reset-password")

    async def send_magic_link(self, to: str, *, login_url: str, ttl_seconds: int) -> None:
        if not self.enabled:
            return
        email = render_magic_link(app_name=self.app_name, login_url=login_url, ttl_seconds=ttl_seconds,
                                  year=self.clock().year)
        await self._deliver(to, email, kind="magic-link")

    async def send_workspace_invite(self, to: str, *, accept_url: str, inviter_name: str,
                                    workspace_name: str, role: str, ttl_days: int) -> bool:
        """True when the transport accepted the mail; failures are logged (without the link) → False."""
        if not self.enabled:
            return False
        try:
            email = render_workspace_invite(accept_url=accept_url, inviter_name=inviter_name,
                                            workspace_name=workspace_name, role=role, ttl_days=ttl_days,
                                            year=self.clock().year)
            await self._deliver(to, email, kind="workspace-invite")
        except Exception as exc:  # noqa: BLE001 - failures are reported, never raised to the caller
            self._log_failure("workspace-invite", to, exc, secret=accept_url)
            return False
        return True

    async def send_welcome(self, to: str, *, get_started_url: str) -> bool:
        """True when the transport accepted the mail; failures are logged and swallowed → False."""
        if not self.enabled:
            return False
        try:
            email = render_welcome(app_name=self.app_name, get_started_url=get_started_url,
                                   year=self.clock().year)
            await self._deliver(to, email, kind="welcome")
        except Exception as exc:  # noqa: BLE001 - failures are reported, never raised to the caller
            self._log_failure("welcome", to, exc, secret=None)
            return False
        return True

    def _log_failure(self, kind: str, to: str, exc: Exception, *, secret: str | None) -> None:
        # No exc_info: a traceback could show the link; the message is redacted in case it echoes it.
        reason = str(exc) or type(exc).__name__
        if secret:
            token = urlsplit(secret).path.rstrip("/").rpartition("/")[2]
            for value in (secret, token if len(token) >= 8 else ""):
                if value:
                    reason = reason.replace(value, "[redacted]")
        self.logger.warning("mail failed: %s to %s: %s", kind, to, reason)

    async def close(self) -> None:
        if self.transport is not None:
            await self.transport.close()
