"""Mail: transports chosen by URL, the five Jinja2 templates, the dev mailbox and its route.

Other code needs only :class:`Mailer` (templates + send) and :func:`create_transport`.
"""

from __future__ import annotations

from localcore.mail.devmailbox import DevMailbox
from localcore.mail.mailer import Mailer
from localcore.mail.transports import MailDeliveryError, MailMessage, MailTransport, create_transport

__all__ = ["DevMailbox", "MailDeliveryError", "MailMessage", "MailTransport", "Mailer", "create_transport"]
