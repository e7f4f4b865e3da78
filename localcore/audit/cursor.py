"""The opaque paging cursor: the (created_at, id) of a page's last event, signed so that a cursor the
server did not hand out is refused (400) instead of silently paging from somewhere else.

Text form: base64url (no padding) of ``v1.<epoch microseconds>.<event id>.<mac>``, where ``mac`` is the
first 16 bytes (hex) of HMAC-SHA256 over the rest under a key derived from the session secret.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import hmac
from datetime import UTC, datetime, timedelta

from localcore.contract.audit import AuditCursor
from localcore.contract.ids import is_uuid

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MAX_LENGTH = 200


class BadCursor(ValueError):
    """The text is not a cursor this server made."""


class CursorCodec:
    def __init__(self, secret: str) -> None:
        self._key = hashlib.sha256(b"localcore audit cursor\x00" + secret.encode()).digest()

    def _mac(self, payload: str) -> str:
        return hmac.new(self._key, payload.encode(), hashlib.sha256).hexdigest()[:32]

    def encode(self, cursor: AuditCursor) -> str:
        created_at, event_id = cursor
        delta = created_at - _EPOCH
        micros = (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
        payload = f"v1.{micros}.{event_id}"
        raw = f"{payload}.{self._mac(payload)}".encode()
        return base64.urlsafe_b64encode(raw).decode().rstrip("=")

    def decode(self, text: str) -> AuditCursor:
        if not text or len(text) > _MAX_LENGTH or not text.isascii():
            raise BadCursor("Invalid cursor")
        try:
            raw = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4)).decode("ascii")
        except (binascii.Error, ValueError):
            raise BadCursor("Invalid cursor") from None
        payload, _, mac = raw.rpartition(".")
        version, _, rest = payload.partition(".")
        micros_text, _, event_id = rest.partition(".")
        if version != "v1" or not hmac.compare_digest(mac, self._mac(payload)):
            raise BadCursor("Invalid cursor")
        if not micros_text.isdigit() or not is_uuid(event_id):
            raise BadCursor("Invalid cursor")
        return _EPOCH + timedelta(microseconds=int(micros_text)), event_id
