"""``python -m localcore backup FILE`` and ``restore FILE``: SQLite backups while the server runs.

Backup (:mod:`.backup`): one read transaction on the live database is the snapshot, and the sqlite3
backup API copies it page by page, in steps, into a new file next to ``FILE``. In WAL mode a reader never
blocks a writer, so the server keeps committing during the copy; holding that one read transaction across
every step means the copy never restarts and never mixes two moments. The copy is switched to a
rollback-journal file (self-contained, no ``-wal``), integrity-checked, fsynced, made ``0600`` and linked
into place (refused if ``FILE`` exists, unless ``--force``).

Restore (:mod:`.restore`): ``FILE`` is copied next to the database and the copy is verified
(``integrity_check``, ``schema_migrations``, migrations this code knows) before anything is touched; then,
under an exclusive lock on SQLite's own lock bytes of the live database (:mod:`.locks`; every open SQLite
connection of a server holds a shared lock there for as long as it is open, so a running server, idle or
not, makes the lock fail, and while we hold it no process can open the database), the previous database is
kept as ``<name>.before-restore``, the stale ``-wal``/``-shm`` are removed and the copy is renamed over the
database.

Postgres and memory have no file to copy: both commands say what to use instead (:mod:`.cli`).
"""

from __future__ import annotations
