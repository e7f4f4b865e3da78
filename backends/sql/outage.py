"""One warning per storage outage and one line on recovery, instead of a stack trace per request.

An adapter calls ``failed`` when it turns a driver error into ``StorageUnavailable``/``StorageBusy`` and
``recovered`` after an operation succeeds; only the transitions are logged.
"""

from __future__ import annotations

import logging

log = logging.getLogger("localcore.storage")


class OutageLog:
    def __init__(self, what: str) -> None:
        self.what = what
        self.down = False

    def failed(self, reason: str) -> None:
        if not self.down:
            self.down = True
            log.warning("%s unavailable (%s); answering 503 until it is back", self.what, reason)

    def recovered(self) -> None:
        if self.down:
            self.down = False
            log.info("%s available again", self.what)
