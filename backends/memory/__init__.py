"""In-memory backend: dicts guarded by one ``asyncio.Lock``. For tests and throwaway dev servers.

Every mutating method takes the lock, validates first and mutates last, so a failure leaves nothing half
done (the same all-or-nothing rule the SQL backends get from transactions). Records are frozen
dataclasses, so callers can never mutate stored state by accident. An audited write stores its event
(``MemoryAuditStore.write``) in that same last step, so an event exists exactly when its change does.

Modules: ``state`` (the shared dicts and the lock), ``users``, ``sessions`` (sessions, tokens,
idempotency, rate limits), ``workspaces``, ``metering`` (the ledger, with its own per-key locks),
``audit`` and ``snapshot`` (export/import: the dicts as the SQL tables' rows).
"""

from __future__ import annotations

from contextlib import AbstractAsyncContextManager
from typing import Any

from backends.memory import snapshot as snapshots
from backends.memory.metering import MemoryMeteringStore
from backends.memory.sessions import (
    MemoryIdempotencyStore,
    MemoryRateLimitStore,
    MemorySessionStore,
    MemoryTokenStore,
)
from backends.memory.state import MemoryState as MemoryState
from backends.memory.users import MemoryUserStore
from backends.memory.workspaces import MemoryWorkspaceStore
from localcore.contract.clock import Clock, system_clock
from localcore.contract.ledger import LedgerVocabulary


class MemoryBackend:
    kind = "memory"

    def __init__(self, clock: Clock | None = None, *, ledger_vocabulary: LedgerVocabulary | None = None) -> None:
        self.clock = clock or system_clock
        self.state = MemoryState(self.clock)
        self.audit = self.state.audit
        self.metering = MemoryMeteringStore(self.clock, ledger_vocabulary)
        self.metering.audit = self.audit
        self.users = MemoryUserStore(self.state, self.clock, self.metering)
        self.sessions = MemorySessionStore(self.state, self.clock)
        self.tokens = MemoryTokenStore(self.state, self.clock)
        self.workspaces = MemoryWorkspaceStore(self.state, self.clock)
        self.idempotency = MemoryIdempotencyStore(self.state, self.clock)
        self.rate_limits = MemoryRateLimitStore(self.state, self.clock)
        self.closed = False

    async def ping(self) -> None:
        if self.closed:
            raise RuntimeError("backend is closed")

    async def schema_version(self) -> int:
        return 0

    async def identity_version(self) -> int | None:
        return self.state.lock.writes

    def snapshot(self) -> AbstractAsyncContextManager[snapshots.MemorySnapshot]:
        """``SnapshotSource``: every dict at one moment (``backends.memory.snapshot``)."""
        return snapshots.memory_snapshot(self)

    def restore(self) -> AbstractAsyncContextManager[snapshots.MemorySnapshotWriter]:
        """``SnapshotSink``: load into a fresh state, swapped in when the block ends normally."""
        return snapshots.memory_restore(self, MemoryState(self.clock))

    async def close(self) -> None:
        self.closed = True

    async def __aenter__(self) -> MemoryBackend:
        return self

    async def __aexit__(self, *exc: Any) -> None:
        await self.close()
