"""The dev mailbox: what ``console://`` sent, kept in memory for ``GET /api/dev/mail`` and the shell.

Bounded (the newest :data:`DEFAULT_CAPACITY` messages) so a long-running local server cannot grow without
limit. ``links`` lists every http(s) URL of the message so a developer (or a test) can follow a
verification or magic link without parsing HTML.
"""

from __future__ import annotations

import html as html_lib
import re
import threading
from collections import deque
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from localcore.clock import iso

DEFAULT_CAPACITY = 200

# Stops at whitespace, quotes and angle brackets, which end a URL in both the text and the HTML part.
_URL = re.compile(r"https?://[^\s<>\"'`]+")
# Sentence punctuation that follows a URL in prose is not part of it.
_TRAILING = ".,;:!?)]}"


def extract_links(*parts: str) -> list[str]:
    """Every http(s) URL in ``parts``, in order of appearance, deduplicated, HTML entities unescaped."""
    seen: dict[str, None] = {}
    for part in parts:
        for match in _URL.finditer(part):
            url = html_lib.unescape(match.group(0)).rstrip(_TRAILING)
            if url not in seen:
                seen[url] = None
    return list(seen)


@dataclass(frozen=True)
class _Entry:
    id: str
    to: str
    sender: str
    subject: str
    text: str
    html: str
    created_at: datetime

    def as_json(self) -> dict[str, Any]:
        return {
            "id": self.id,
            "to": self.to,
            "from": self.sender,
            "subject": self.subject,
            "text": self.text,
            "html": self.html,
            "links": extract_links(self.text, self.html),
            "createdAt": iso(self.created_at),
        }


class DevMailbox:
    """The last ``capacity`` messages sent through the console transport, newest first."""

    def __init__(self, capacity: int = DEFAULT_CAPACITY) -> None:
        if capacity < 1:
            raise ValueError("capacity must be at least 1")
        self._entries: deque[_Entry] = deque(maxlen=capacity)
        # The transport runs on the loop, but the shell or a test may read from another thread.
        self._lock = threading.Lock()

    def add(self, *, id: str, to: str, sender: str, subject: str, text: str, html: str,
            created_at: datetime) -> None:
        entry = _Entry(id=id, to=to, sender=sender, subject=subject, text=text, html=html,
                       created_at=created_at)
        with self._lock:
            self._entries.append(entry)

    def messages(self) -> list[dict[str, Any]]:
        """JSON-ready messages, newest first: ``{id, to, from, subject, text, html, links, createdAt}``."""
        with self._lock:
            entries = list(self._entries)
        return [entry.as_json() for entry in reversed(entries)]

    def clear(self) -> None:
        with self._lock:
            self._entries.clear()

    def __len__(self) -> int:
        with self._lock:
            return len(self._entries)
