"""The ledger's locks: the key each write takes, in which order, and a registry of in-process locks by key.

Every write whose rule depends on a balance holds the buyer's or spender's *user lock*
(``users.user_lock_key``); a purchase's grant and refunds hold its *order lock*, always taken before the
user lock (never the reverse, so two writers can never wait for each other). Account deletion holds the
user lock too, so a deletion cannot interleave with a reservation. SQL backends take these keys as
transaction-scoped locks (``Database.lock``); a backend that lives in one process holds them in a
``KeyedLocks`` (``localcore.contract.locks``).
"""

from __future__ import annotations

from localcore.contract.locks import KeyedLocks

__all__ = ["KeyedLocks", "order_lock"]


def order_lock(order_id: str) -> str:
    """The key a purchase's grant and refunds hold, always before the buyer's user lock."""
    return "order:" + order_id
