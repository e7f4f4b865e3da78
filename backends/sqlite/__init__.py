"""SQLite backend (the default): one file, WAL, safe with several processes on the same file.

The file holds emails, password hashes and IP addresses, so it is owner-only: created ``0600`` (its
directory ``0700`` when we create it), and an existing file and its ``-wal``/``-shm`` companions are
tightened to ``0600`` on every open. SQLite creates the companions with the database file's mode, so
they stay owner-only after that.
"""

from __future__ import annotations

import contextlib
import os
from pathlib import Path

from backends.sql import migrate
from backends.sql.backend import SqlBackend
from backends.sqlite.db import SqliteDatabase
from backends.sqlite.snapshot import SqliteDialect
from localcore.contract.clock import Clock, system_clock
from localcore.contract.ledger import LedgerVocabulary


class SqliteBackend(SqlBackend):
    kind = "sqlite"
    snapshot_dialect = SqliteDialect()
    db: SqliteDatabase


async def migrate_sqlite(db: SqliteDatabase) -> list[int]:
    migrations = migrate.load_migrations("backends.sqlite")
    async with db.transaction() as tx:  # BEGIN IMMEDIATE: the cross-process migration lock
        await tx.execute(migrate.CREATE_TABLE.format(ts="INTEGER"))
        done = await migrate.applied(tx)
        return await migrate.apply_pending(tx, migrations, done, per_statement=True)


async def open_sqlite(path: str, *, clock: Clock | None = None, migrate_schema: bool = True,
                      ledger_vocabulary: LedgerVocabulary | None = None) -> SqliteBackend:
    if path != ":memory:":
        make_private(Path(path))
    db = SqliteDatabase(path)
    await db.open()
    try:
        if migrate_schema:
            await migrate_sqlite(db)
    except BaseException:
        await db.close()
        raise
    return SqliteBackend(db, clock or system_clock, ledger_vocabulary=ledger_vocabulary)


PRIVATE_FILE_MODE = 0o600
PRIVATE_DIR_MODE = 0o700
COMPANION_SUFFIXES = ("-wal", "-shm", "-journal")


def make_private(path: Path) -> None:
    """Create the database file owner-only if it is missing; tighten it and its companions if not."""
    path.parent.mkdir(mode=PRIVATE_DIR_MODE, parents=True, exist_ok=True)
    os.close(os.open(path, os.O_WRONLY | os.O_CREAT, PRIVATE_FILE_MODE))
    for file in (path, *(path.with_name(path.name + suffix) for suffix in COMPANION_SUFFIXES)):
        with contextlib.suppress(FileNotFoundError, PermissionError):  # absent, or not ours to change
            if file.stat().st_mode & 0o777 != PRIVATE_FILE_MODE:
                file.chmod(PRIVATE_FILE_MODE)
