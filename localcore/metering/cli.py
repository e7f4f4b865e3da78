"""``python -m localcore credits grant|balance|history``: operator commands over the ledger.

- ``credits grant EMAIL AMOUNT [--reason R]``: AMOUNT in credit units (``5``, ``2.50``; at most 6 decimals),
  stored as micros. The reason is the idempotency key: re-running with the same ``--reason`` changes
  nothing. Without one, a unique ``admin:<uuid>`` is used.
- ``credits balance EMAIL [--json]``: the raw ledger balance (negative ``remaining`` is debt). It does not
  award the signup grant: an operator looking must not write.
- ``credits history EMAIL [--limit N] [--json]``: the display-safe ledger view, newest first.
"""

from __future__ import annotations

import argparse
import json
import sys
import uuid
from decimal import Decimal, InvalidOperation

from localcore.audit import audit_record
from localcore.config import Config
from localcore.contract.clock import iso
from localcore.contract.ledger import SAFE_INTEGER_MAX, MeteringBalance
from localcore.metering.service import LEDGER_VOCABULARY
from localcore.store import Backend, User

MICROS = 1_000_000


def parse_amount(text: str) -> int:
    """Credit units → micros; refuses zero, negatives, non-numbers and sub-micro precision."""
    try:
        value = Decimal(text.strip())
    except InvalidOperation:
        raise ValueError(f"amount must be a number of credits, e.g. 5 or 2.50 (got {text!r})") from None
    if not value.is_finite() or value <= 0:
        raise ValueError(f"amount must be positive (got {text!r})")
    micros = value * MICROS
    if micros != micros.to_integral_value():
        raise ValueError(f"amount has more than 6 decimals (got {text!r})")
    if micros > SAFE_INTEGER_MAX:
        raise ValueError(f"amount is too large (got {text!r})")
    return int(micros)


def credits_text(micros: int) -> str:
    sign = "-" if micros < 0 else ""
    whole, frac = divmod(abs(micros), MICROS)
    return f"{sign}{whole}.{frac:06d}"


def _add_common(parser: argparse.ArgumentParser) -> None:
    # Also accepted after the subcommand; SUPPRESS keeps a value given before it.
    parser.add_argument("--config", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument("--data-dir", default=argparse.SUPPRESS, help=argparse.SUPPRESS)
    parser.add_argument("--database-url", default=argparse.SUPPRESS, help=argparse.SUPPRESS)


def add_arguments(parser: argparse.ArgumentParser) -> None:
    sub = parser.add_subparsers(dest="credits_command", metavar="ACTION", required=True)
    grant = sub.add_parser("grant", help="grant credits to a user (idempotent per --reason)")
    grant.add_argument("email")
    grant.add_argument("amount", help="credit units, e.g. 5 or 2.50")
    grant.add_argument("--reason", help="idempotency key (default: a unique admin:<uuid>)")
    balance = sub.add_parser("balance", help="show a user's balance")
    balance.add_argument("email")
    balance.add_argument("--json", action="store_true", help="machine-readable output")
    history = sub.add_parser("history", help="show a user's recent credit activity")
    history.add_argument("email")
    history.add_argument("--limit", type=int, default=20, help="entries to show (1..50, default 20)")
    history.add_argument("--json", action="store_true", help="machine-readable output")
    for command in (grant, balance, history):
        _add_common(command)


def _balance_json(balance: MeteringBalance) -> dict[str, int]:
    return {"grantedMicros": balance.granted_micros, "usedMicros": balance.used_micros,
            "remainingMicros": balance.remaining_micros, "activeReservedMicros": balance.active_reserved_micros,
            "availableMicros": balance.available_micros}


async def _user(backend: Backend, email: str) -> User | None:
    user = await backend.users.get_user_by_email(email)
    if user is None:
        print(f"no user with email {email!r}", file=sys.stderr)
    return user


async def run(args: argparse.Namespace, config: Config) -> int:
    from backends import open_backend

    if args.credits_command == "grant":
        try:
            micros = parse_amount(args.amount)
        except ValueError as exc:
            print(str(exc), file=sys.stderr)
            return 2
    async with await open_backend(config.database_url) as backend:
        user = await _user(backend, args.email)
        if user is None:
            return 1
        if args.credits_command == "grant":
            reason = args.reason or f"admin:{uuid.uuid4()}"
            created = await backend.metering.grant_once(user.id, reason, micros, audit=audit_record(
                "credits.grant", actor_id=None, details={"via": "cli"}))
            if created:
                print(f"granted {credits_text(micros)} credits to {user.email} (reason {reason})")
            else:
                print(f"a grant with reason {reason!r} already exists for {user.email}; nothing changed")
            return 0
        if args.credits_command == "balance":
            balance = await backend.metering.get_balance(user.id)
            if args.json:
                print(json.dumps({"email": user.email, "userId": user.id, **_balance_json(balance)}))
            else:
                print(f"{user.email}: remaining {credits_text(balance.remaining_micros)} "
                      f"(granted {credits_text(balance.granted_micros)}, used {credits_text(balance.used_micros)}, "
                      f"reserved {credits_text(balance.active_reserved_micros)}, "
                      f"available {credits_text(balance.available_micros)})")
            return 0
        ledger = backend.metering.with_vocabulary(LEDGER_VOCABULARY)  # the history the user's page shows
        entries = await ledger.list_ledger(user.id, max(1, min(50, args.limit)))
        if args.json:
            print(json.dumps({"entries": [{"id": e.id, "kind": e.kind, "amountMicros": e.amount_micros,
                                           "createdAt": iso(e.created_at), "description": e.description}
                                          for e in entries]}))
        elif not entries:
            print(f"{user.email}: no credit activity")
        else:
            for e in entries:
                amount = credits_text(e.amount_micros)
                print(f"{iso(e.created_at)}  {'+' if e.amount_micros > 0 else ''}{amount:>14}  "
                      f"{e.kind:<8}  {e.description}")
        return 0


COMMAND = (add_arguments, run)
