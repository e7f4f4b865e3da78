"""``open_backend(url)``: the one place a storage URL becomes an opened, migrated backend."""

from __future__ import annotations

from pathlib import Path
from urllib.parse import urlsplit

from localcore.contract.backend import Backend
from localcore.contract.clock import Clock
from localcore.contract.ledger import LedgerVocabulary


class UnsupportedBackendURL(ValueError):
    """The URL names no backend localcore knows."""


def sqlite_path(url: str) -> str:
    """``sqlite:///abs/path.db`` → ``/abs/path.db``; ``sqlite://relative.db`` → ``relative.db``."""
    rest = url[len("sqlite://"):]
    if rest.startswith("/"):
        return rest
    if not rest:
        raise UnsupportedBackendURL("sqlite URL needs a path: sqlite:///abs/path.db")
    return str(Path(rest))


def describe(url: str) -> str:
    """The URL without any password, for logs and ``doctor``."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.replace(f":{parts.password}@", ":***@")
    return parts._replace(netloc=netloc).geturl()


async def open_backend(url: str, *, clock: Clock | None = None,
                       ledger_vocabulary: LedgerVocabulary | None = None, pool_size: int = 10) -> Backend:
    """Open and migrate the backend ``url`` names: ``memory://``, ``sqlite:///abs/path.db`` (or
    ``sqlite://relative.db``), ``postgresql://…`` / ``postgres://…``. ``ledger_vocabulary`` names the
    ledger's sources and reasons (the credits feature's; generic words by default). ``pool_size``: the
    most connections a Postgres backend opens."""
    scheme = url.split(":", 1)[0].lower()
    if scheme == "memory":
        from backends.memory import MemoryBackend

        return MemoryBackend(clock, ledger_vocabulary=ledger_vocabulary)
    if scheme == "sqlite":
        from backends.sqlite import open_sqlite

        return await open_sqlite(sqlite_path(url), clock=clock, ledger_vocabulary=ledger_vocabulary)
    if scheme in ("postgres", "postgresql"):
        from backends.postgres import open_postgres

        return await open_postgres(url, clock=clock, ledger_vocabulary=ledger_vocabulary, max_size=pool_size)
    raise UnsupportedBackendURL(
        f"unsupported backend URL scheme {scheme!r}: use memory://, sqlite:///path.db or postgresql://…")
