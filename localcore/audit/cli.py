"""``python -m localcore audit``: the audit log from the terminal, newest first.

``[--workspace ID] [--user EMAIL] [--action A] [--since ISO] [--limit N] [--json]``: every filter given
must match (``--user``: events the user did or was the target of; ``--since``: inclusive, an ISO 8601
time, UTC when it names no zone). ``--json`` prints one JSON object per line, the API's event shape;
otherwise a table. Exit status 0, 1 for an unknown ``--user``, 2 for a bad argument.
"""

from __future__ import annotations

import argparse
import json
import sys
from datetime import UTC, datetime

from localcore.audit.service import AuditService, event_out
from localcore.config import Config
from localcore.contract.audit import AuditEvent


def _since(text: str) -> datetime:
    try:
        value = datetime.fromisoformat(text.strip().replace("Z", "+00:00"))
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an ISO 8601 time: {text!r}") from None
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def _limit(text: str) -> int:
    try:
        value = int(text)
    except ValueError:
        raise argparse.ArgumentTypeError(f"not an integer: {text!r}") from None
    if value < 1:
        raise argparse.ArgumentTypeError("must be at least 1")
    return value


def add_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--workspace", metavar="ID", help="only this workspace's events")
    parser.add_argument("--user", metavar="EMAIL", help="only events this user did or was the target of")
    parser.add_argument("--action", metavar="A", help="only this action, e.g. member.add")
    parser.add_argument("--since", metavar="ISO", type=_since, help="only events at or after this time")
    parser.add_argument("--limit", metavar="N", type=_limit, default=100, help="at most N events (default 100)")
    parser.add_argument("--json", action="store_true", help="one JSON object per line")


def _table(rows: list[dict[str, object]]) -> str:
    columns = ("createdAt", "action", "actor", "workspaceId", "target", "details", "ip")
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(c), *(len(r[i]) for r in cells)) for i, c in enumerate(columns)]
    lines = ["  ".join(c.ljust(w) for c, w in zip(columns, widths, strict=True)).rstrip()]
    lines += ["  ".join(v.ljust(w) for v, w in zip(r, widths, strict=True)).rstrip() for r in cells]
    return "\n".join(lines)


async def run(args: argparse.Namespace, config: Config) -> int:
    from backends import open_backend

    async with await open_backend(config.database_url) as backend:
        user_id = None
        if args.user:
            user = await backend.users.get_user_by_email(args.user)
            if user is None:
                print(f"no user with email {args.user!r}", file=sys.stderr)
                return 1
            user_id = user.id
        events: list[AuditEvent] = await backend.audit.search(
            workspace_id=args.workspace, user_id=user_id, action=args.action, since=args.since, limit=args.limit)
        service = AuditService(backend, config.auth.secret)
        actors = await service.actors(events)
        shaped = [event_out(e, actors).model_dump(mode="json") for e in events]
    if args.json:
        for row in shaped:
            print(json.dumps(row, separators=(",", ":")))
        return 0
    if not shaped:
        print("no audit events")
        return 0
    print(_table([{
        "createdAt": row["createdAt"], "action": row["action"],
        "actor": row["actorEmail"] or ("(deleted user)" if row["actorDeleted"] else row["actorId"] or "system"),
        "workspaceId": row["workspaceId"] or "-",
        "target": f"{row['targetType']}:{row['targetId']}" if row["targetType"] else "-",
        "details": json.dumps(row["details"], separators=(",", ":")), "ip": row["ip"] or "-",
    } for row in shaped]))
    return 0


COMMAND = (add_arguments, run)
