"""``python -m localcore backup FILE`` / ``restore FILE``: argument parsing and what each backend gets.

SQLite gets the real thing (:mod:`.backup`, :mod:`.restore`). ``memory://`` has nothing on disk: both
commands say so. Postgres is not copied by localcore: both commands explain ``pg_dump``/``pg_restore``
(which take a consistent snapshot of a running database) and ``export``/``import`` when this localcore has
them, and exit 2 without writing anything.

Exit codes: 0 done; 1 refused or failed (the message says why; nothing was changed); 2 not possible on
this backend.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path

from localcore.config import Config

NOT_ON_THIS_BACKEND = 2


def add_backup_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="the backup to write: one self-contained SQLite file (0600)")
    parser.add_argument("--force", action="store_true", help="replace FILE if it exists")
    parser.add_argument("--step-pause", type=float, default=0.0, metavar="SECONDS",
                        help="pause between copy steps of 1000 pages (gentler on a busy disk; default 0)")


def add_restore_arguments(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("file", metavar="FILE", help="a backup made by `python -m localcore backup`")
    parser.add_argument("--force", action="store_true",
                        help="replace a <database>.before-restore left by an earlier restore")


def _scheme(config: Config) -> str:
    return config.database_url.split(":", 1)[0].lower()


def _has_command(name: str) -> bool:
    from localcore import cli

    return name in cli._feature_commands()


def _memory_message(command: str) -> str:
    return (f"{command}: the configured backend is memory:// (DATABASE_URL, --database-url or CORE_STORES=memory):"
            " its data lives only inside the server process and is gone when that stops, so there is no "
            f"database to {'back up' if command == 'backup' else 'restore into'}. Keep data in SQLite (the "
            "default) or Postgres.")


def _postgres_message(command: str, config: Config) -> str:
    from backends.registry import describe

    url = describe(config.database_url)
    lines = [f"{command}: the configured backend is Postgres ({url}). localcore does not copy a Postgres "
             "database itself: use Postgres' own tools, which take a consistent snapshot while the servers "
             "keep running."]
    if command == "backup":
        lines += ["  back up:  pg_dump --format=custom --file=localcore.dump 'DATABASE_URL'",
                  "  restore:  pg_restore --clean --if-exists --no-owner --dbname='DATABASE_URL' localcore.dump",
                  "            (stop the localcore servers first; or restore into a new, empty database)"]
    else:
        lines += ["  restore a pg_dump archive, with the localcore servers stopped:",
                  "    pg_restore --clean --if-exists --no-owner --dbname='DATABASE_URL' localcore.dump"]
    lines.append(f"  where DATABASE_URL is {url} (give the password through PGPASSWORD or ~/.pgpass).")
    if _has_command("export"):
        lines.append("  or, backend-neutral: `python -m localcore export FILE` writes a snapshot that "
                     "`python -m localcore import FILE` loads into an empty SQLite or Postgres database.")
    lines.append(f"Nothing was {'written' if command == 'backup' else 'changed'}.")
    return "\n".join(lines)


def _unsupported(command: str, config: Config) -> int | None:
    scheme = _scheme(config)
    if scheme == "sqlite":
        return None
    if scheme == "memory":
        print(_memory_message(command), file=sys.stderr)
    elif scheme in ("postgres", "postgresql"):
        print(_postgres_message(command, config), file=sys.stderr)
    else:
        print(f"{command}: backend {scheme!r} is not supported", file=sys.stderr)
    return NOT_ON_THIS_BACKEND


def _database(config: Config) -> Path:
    from backends.registry import sqlite_path

    # resolve(): the real file (a symlinked database is replaced where it lives) and one spelling of it.
    return Path(sqlite_path(config.database_url)).resolve()


async def run_backup(args: argparse.Namespace, config: Config) -> int:
    return backup_command(args, config)


async def run_restore(args: argparse.Namespace, config: Config) -> int:
    return restore_command(args, config)


def backup_command(args: argparse.Namespace, config: Config) -> int:
    from localcore.backups.backup import backup_sqlite
    from localcore.backups.checks import BackupError

    refused = _unsupported("backup", config)
    if refused is not None:
        return refused
    database = _database(config)
    try:
        result = backup_sqlite(database, Path(args.file), force=args.force, step_pause=max(0.0, args.step_pause))
    except BackupError as exc:
        print(f"backup: {exc}. Nothing was written.", file=sys.stderr)
        return 1
    except OSError as exc:
        print(f"backup: failed: {exc}. No backup was written.", file=sys.stderr)
        return 1
    print(f"backed up {database} to {result.report.path} "
          f"({result.steps} step{'s' if result.steps != 1 else ''}, {result.seconds:.2f} s; file mode 0600)")
    for line in result.report.lines():
        print(line)
    print("  keep the settings key with it: workspace settings in it open only with the "
          "WORKSPACE_SETTINGS_ENCRYPTION_KEY they were sealed with (keyring or secrets.json)")
    return 0


def restore_command(args: argparse.Namespace, config: Config) -> int:
    from localcore.backups import locks
    from localcore.backups.checks import BackupError
    from localcore.backups.restore import restore_sqlite

    refused = _unsupported("restore", config)
    if refused is not None:
        return refused
    database = _database(config)
    try:
        result = restore_sqlite(Path(args.file), database, force=args.force)
    except BackupError as exc:
        print(f"restore: refused: {exc}. Nothing was changed.", file=sys.stderr)
        return 1
    except (OSError, locks.LocksUnavailable) as exc:
        print(f"restore: failed: {exc}", file=sys.stderr)
        return 1
    print(f"restored {Path(args.file).expanduser().absolute()} into {database}")
    for line in result.report.lines():
        print(line)
    if result.previous is not None:
        print(f"  the previous database is kept as {result.previous}")
    for note in result.notes:
        print(f"  note: {note}")
    print("  start the server as usual: accounts, sessions and passwords are those of the backup")
    return 0


BACKUP_COMMAND = (add_backup_arguments, run_backup)
RESTORE_COMMAND = (add_restore_arguments, run_restore)
