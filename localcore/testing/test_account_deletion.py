"""Account deletion against the ledger: the deletion takes the ledger's user lock, so a reservation (or any
credit change) of the same user runs wholly before it — and is deleted with the account — or wholly after
it, when there is nothing left to reserve from. Either way no credit row outlives the user."""

from __future__ import annotations

import asyncio

from localcore.contract.ledger import InsufficientCreditError
from localcore.store import Backend
from localcore.testing.test_metering_support import raw

ROUNDS = 12


async def test_a_deletion_racing_a_reservation_leaves_no_credit_rows(backend: Backend) -> None:
    for n in range(ROUNDS):
        user = await backend.users.create_user(email=f"racer{n}@example.com", name="Racer")
        assert await backend.metering.grant_once(user.id, "starter", 5_000_000)
        deleted, reserved = await asyncio.gather(
            backend.users.delete_user_completely(user.id),
            backend.metering.reserve(user.id, f"run-{n}", 1_000_000, 600),
            return_exceptions=True)
        assert deleted is True
        assert isinstance(reserved, str | InsufficientCreditError), reserved
        rows = raw(backend)
        assert await rows.list_reservations(user.id) == []
        assert await rows.list_grants(user.id) == []
        assert await rows.list_usage(user.id) == []
        balance = await backend.metering.get_balance(user.id)
        assert (balance.granted_micros, balance.active_reserved_micros, balance.available_micros) == (0, 0, 0)
        assert await backend.users.get_user(user.id) is None
