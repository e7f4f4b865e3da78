"""What an import checks besides the file's own checksum and counts: the ledger's identities.

The credits ledger keeps, per user, a balance row (``boring_credit_balances``) that must equal the sums of
the user's rows (docs/contract.md, "The ledger"): ``perpetual_granted_micros`` = the sum of the grants
without expiry and ``used_micros`` = the sum of the usage ledger's ``billed_cost_micros``, each saturating
at ``rules_ledger.TOTAL_CAP``; every user with a grant without expiry or a ledger row has a balance row.
:class:`LedgerCheck` is fed every row as the import streams it (memory: a few integers per user) and
checks that before the import commits. After the commit, :func:`check_balances` reads the balance of every
user with credit rows through the target's own ``MeteringStore`` and compares it with what the file's rows
say it must be (expiring grants and live holds included, at one ``now``).
"""

from __future__ import annotations

from collections import defaultdict
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from localcore.contract.backend import Backend
from localcore.contract.rules_ledger import TOTAL_CAP
from localcore.contract.snapshot import datetime_of_micros, decode_timestamp
from localcore.transfer.format import TransferError

GRANTS = "boring_credit_grants"
USAGE = "boring_usage_ledger"
HOLDS = "boring_usage_reservations"
BALANCES = "boring_credit_balances"
LEDGER_TABLES = frozenset({GRANTS, USAGE, HOLDS, BALANCES})


def _time(value: Any) -> datetime | None:
    if value is None:
        return None
    return datetime_of_micros(value) if isinstance(value, int) else decode_timestamp(value)


@dataclass
class _User:
    perpetual: int = 0
    used: int = 0
    moved_totals: bool = False  # a perpetual grant or a ledger row: the user must have a balance row
    expiring: list[tuple[int, datetime]] = field(default_factory=list)
    holds: list[tuple[int, datetime]] = field(default_factory=list)
    balance_row: tuple[int, int] | None = None
    balance_line: int = 0


class LedgerCheck:
    """Feed it every row (``add``), then ``check()`` before committing."""

    def __init__(self) -> None:
        self.users: dict[str, _User] = defaultdict(_User)

    def add(self, table: str, row: dict[str, Any], line: int) -> None:
        if table not in LEDGER_TABLES:
            return
        try:
            self._add(table, row, line)
        except (KeyError, TypeError, ValueError) as exc:
            raise TransferError(f"{table}: not a ledger row ({exc})", line) from None

    def _add(self, table: str, row: dict[str, Any], line: int) -> None:
        user = self.users[str(row["user_id"])] if row.get("user_id") is not None else None
        if user is None:
            return  # a purchase tombstone: no user yet
        if table == GRANTS:
            expires = _time(row["expires_at"])
            if expires is None:
                user.perpetual += int(row["amount_micros"])
                user.moved_totals = True
            else:
                user.expiring.append((int(row["amount_micros"]), expires))
        elif table == USAGE:
            user.used += int(row["billed_cost_micros"])
            user.moved_totals = True
        elif table == HOLDS:
            if row["status"] == "active":
                expires = _time(row["expires_at"])
                assert expires is not None
                user.holds.append((int(row["amount_micros"]), expires))
        else:
            user.balance_row = (int(row["perpetual_granted_micros"]), int(row["used_micros"]))
            user.balance_line = line

    def check(self) -> None:
        """``TransferError`` naming the first user whose balance row disagrees with their rows."""
        for user_id, user in self.users.items():
            if not (user.moved_totals or user.balance_row):
                continue  # only expiring grants or holds: no totals to keep
            expected = (min(user.perpetual, TOTAL_CAP), min(user.used, TOTAL_CAP))
            if user.balance_row is None:
                raise TransferError(f"ledger identity: user {user_id} has credit rows but no balance row")
            if user.balance_row != expected:
                raise TransferError(
                    f"ledger identity: user {user_id}'s balance row says granted {user.balance_row[0]} / used "
                    f"{user.balance_row[1]} micros, their rows sum to {expected[0]} / {expected[1]}",
                    user.balance_line)


async def check_balances(backend: Backend, ledger: LedgerCheck, now: datetime) -> int:
    """Compare every ledger user's balance on ``backend`` at ``now`` with the file's rows; returns how
    many users were checked, ``TransferError`` for the first that differs."""
    checked = 0
    for user_id, user in ledger.users.items():
        if user.balance_row is None and not user.expiring and not user.holds:
            continue
        perpetual, used = user.balance_row or (0, 0)
        balance = await backend.metering.get_balance(user_id, now=now)
        granted = perpetual + sum(a for a, expires in user.expiring if expires > now)
        reserved = sum(a for a, expires in user.holds if expires > now)
        want = (granted, used, reserved)
        got = (balance.granted_micros, balance.used_micros, balance.active_reserved_micros)
        if got != want:
            raise TransferError(f"after the import, user {user_id}'s balance reads granted/used/reserved {got}, "
                                f"the file says {want}")
        checked += 1
    return checked
