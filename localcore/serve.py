"""``serve``: run the HTTP server until a signal stops it — binding, workers, graceful shutdown.

The composition root's running half (``localcore.cli`` parses the command line and calls :func:`serve`):
the only place that opens the backend for a server and turns configuration into a running app.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING, Any

from localcore import __version__
from localcore.config import Config
from localcore.config_rules import is_loopback_host
from localcore.shutdown import ShutdownSignals

if TYPE_CHECKING:
    from localcore.plugins import Plugin

log = logging.getLogger("localcore")
SHUTDOWN_GRACE_SECONDS = 30.0
BACKEND_CLOSE_SECONDS = 10.0


async def serve(config: Config, secrets_where: str = "environment", *, bootstrap: bool = True,
                ready: Callable[[str], None] | None = None, workers: int = 1, reuse_port: bool = False,
                argv: Sequence[str] = (), plugins: Sequence[Plugin] = ()) -> int:
    """Run until SIGTERM/SIGINT, then stop accepting, let in-flight requests finish (30 s grace), close
    the backend and return 0; 1 if the grace period ran out, closing failed, or a second signal forced
    the exit during the grace period.

    With ``workers > 1`` this process also starts ``workers - 1`` copies of itself on the same port
    (SO_REUSEPORT; the kernel spreads connections); they share everything through the backend, and a
    signal to this process stops them all."""
    from aiohttp import web

    from backends import open_backend
    from localcore.app import create_app
    from localcore.clock import OffsetClock
    from localcore.logs import AccessLogger
    from localcore.malloc import return_large_blocks_to_the_os

    return_large_blocks_to_the_os()  # before the password pool's threads allocate their first work area
    # One clock for the backend and the app, so the dev clock (``POST /api/dev/clock``) moves every TTL.
    clock = OffsetClock()
    signals = ShutdownSignals()
    held = contextlib.ExitStack()
    try:
        held.enter_context(_database_in_use(config))
        sock = bind_socket(config.host, config.port, reuse_port=reuse_port)
        config = with_bound_port(config, sock.getsockname()[1])
        try:
            backend = await open_backend(config.database_url, clock=clock, pool_size=config.database_pool_size)
        except BaseException:
            sock.close()
            raise
    except BaseException:
        signals.remove()
        held.close()
        raise
    try:
        app = create_app(config, backend, clock=clock, plugins=plugins)
    except BaseException:  # a plugin refused at start-up (or a feature's settings): release what we hold
        sock.close()
        await backend.close()
        signals.remove()
        held.close()
        raise
    runner = web.AppRunner(app, access_log_class=AccessLogger, shutdown_timeout=SHUTDOWN_GRACE_SECONDS)
    exit_code = 0
    children: list[subprocess.Popen[bytes]] = []
    try:
        await runner.setup()
        site = web.SockSite(runner, sock)
        await site.start()
        url = _listening_url(site, config)
        children = _start_workers(workers - 1, argv, url) if workers > 1 else []
        print(f"localcore {__version__} listening on {url}", flush=True)
        print(f"  database: {backend.kind}   mail: "
              f"{config.mail.scheme + '://' if config.mail else 'disabled'}   secrets: {secrets_where}",
              flush=True)
        for line in _banner_notes(config, url):
            print(line, flush=True)
        if bootstrap and not signals.requested.is_set():
            await _offer_bootstrap(app, url)
        if ready is not None:
            ready(url)
        await signals.requested.wait()
        log.info("shutdown:start")
        for child in children:
            child.send_signal(signal.SIGTERM)
        if children and not await signals.unless_forced(_wait_for_children(children),
                                                        SHUTDOWN_GRACE_SECONDS + 10):
            exit_code = 1
    finally:
        if not await signals.unless_forced(runner.cleanup(), SHUTDOWN_GRACE_SECONDS + 5):
            log.warning("shutdown:%s", "forced" if signals.forced.is_set() else "grace-exceeded")
            exit_code = 1
        for child in children:
            if child.poll() is None:
                child.kill()  # forced, or it outlived its own grace period
        if not await signals.unless_forced(backend.close(), BACKEND_CLOSE_SECONDS):
            log.warning("shutdown:db-close-failed")
            exit_code = 1
        signals.remove()
        held.close()
    if exit_code == 0:
        log.info("shutdown:complete")
    return exit_code


async def _wait_for_children(children: list[subprocess.Popen[bytes]]) -> None:
    """Wait for the worker processes; raise if one did not stop cleanly (-SIGTERM: it was killed by the
    default handler before it had started, which is a clean stop too)."""
    codes = await asyncio.gather(*(asyncio.to_thread(child.wait) for child in children))
    if any(code not in (0, -signal.SIGTERM) for code in codes):
        raise RuntimeError(f"worker exit codes {codes}")


def _database_in_use(config: Config) -> contextlib.AbstractContextManager[None]:
    """While serving a SQLite file, hold its server lock shared (every ``--workers`` process at once), so
    that ``restore`` cannot swap the file under a running server; a server starting during a restore
    waits for it to finish."""
    if not config.database_url.lower().startswith("sqlite:") or os.name != "posix":
        return contextlib.nullcontext()
    from pathlib import Path

    from backends.registry import sqlite_path
    from localcore.backups.locks import server_lock

    return server_lock(Path(sqlite_path(config.database_url)).resolve(), shared=True, wait_seconds=30)


def bind_socket(host: str, port: int, *, reuse_port: bool = False) -> socket.socket:
    """Bind the listening socket before the app exists, so ``--port 0`` knows its port up front."""
    family = socket.AF_INET6 if ":" in host else socket.AF_INET
    sock = socket.socket(family, socket.SOCK_STREAM)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        if reuse_port:
            sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEPORT, 1)
        sock.bind((host, port))
        sock.listen(1024)
        sock.setblocking(False)
    except BaseException:
        sock.close()
        raise
    return sock


def with_bound_port(config: Config, port: int) -> Config:
    """The configuration with the port actually bound; a public URL derived from host:port follows it."""
    if port == config.port:
        return config
    update: dict[str, Any] = {"port": port}
    if config.public_url_derived:
        base = config.auth.url.rsplit(":", 1)[0]
        update["auth"] = config.auth.model_copy(update={"url": f"{base}:{port}"})
    return config.model_copy(update=update)


def _start_workers(count: int, argv: Sequence[str], url: str) -> list[subprocess.Popen[bytes]]:
    """Start ``count`` extra server processes on the port this one bound (so ``--port 0`` works)."""
    port = url.rsplit(":", 1)[1]
    base = [a for a in argv if a != "--reuse-port"]
    # Drop our own --port/--workers values; the children get the bound port and serve alone.
    cleaned: list[str] = []
    skip = False
    for arg in base:
        if skip:
            skip = False
            continue
        if arg in ("--port", "--workers"):
            skip = True
            continue
        if arg.startswith(("--port=", "--workers=")):
            continue
        cleaned.append(arg)
    command = [sys.executable, "-m", "localcore", *cleaned, "--port", port, "--workers", "1", "--reuse-port",
               "--no-bootstrap"]
    return [subprocess.Popen(command) for _ in range(count)]  # noqa: S603 - our own interpreter and module


def _banner_notes(config: Config, url: str) -> list[str]:
    """The dev mailbox link (its secret makes the mailbox the terminal owner's alone) and the warning
    that console mail on a non-loopback bind is readable at this terminal only, not by the LAN users."""
    if config.mail is None or config.mail.scheme != "console":
        return []
    notes = [f"  Dev mailbox: {url}/dev/mail?token={config.dev_mailbox_token}"]
    if not is_loopback_host(config.host):
        notes.append(f"  warning: console mail on a non-loopback bind ({config.host}): mail to other people "
                     "is printed here, never delivered; configure MAIL_TRANSPORT_URL (smtp://, resend://)")
    return notes


def _listening_url(site: Any, config: Config) -> str:
    port = config.port
    host = config.host if config.host not in ("0.0.0.0", "::") else "127.0.0.1"  # noqa: S104
    host = f"[{host}]" if ":" in host else host
    return f"http://{host}:{port}"


async def _offer_bootstrap(app: Any, url: str) -> None:
    """On an empty database, print the one-time owner link (desktop single-user start)."""
    try:
        from localcore.auth.bootstrap import offer_bootstrap_link
    except ImportError:
        return
    link = await offer_bootstrap_link(app, url)
    if link:
        print(f"  first run: open {link} within 15 minutes to create the owner account", flush=True)
