"""Command line: ``python -m localcore [serve|migrate|doctor|…]`` — the composition root.

This is the only place that turns configuration into an opened backend and a running server.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import signal
import socket
import subprocess
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from localcore import __version__
from localcore.config import Config, load_config
from localcore.config_rules import is_loopback_host
from localcore.errors import ConfigError
from localcore.shutdown import ShutdownSignals, restore_default_signals

if TYPE_CHECKING:
    from localcore.plugins import Plugin

log = logging.getLogger("localcore")
SHUTDOWN_GRACE_SECONDS = 30.0
BACKEND_CLOSE_SECONDS = 10.0
#: Subcommands contributed by features: name -> (add_arguments, run(args, config) -> exit code).
Command = tuple[Callable[[argparse.ArgumentParser], None],
                Callable[[argparse.Namespace, Config], Coroutine[Any, Any, int]]]


FEATURE_HELP = {
    "credits": "grant credits to a user, show a balance or the ledger history",
    "rotate-settings-key": "re-encrypt every workspace setting under the current encryption key",
    "backup": "write a consistent copy of the SQLite database while the server runs",
    "restore": "put a backup in place of a stopped data directory's SQLite database",
    "export": "write every table, as one consistent snapshot, to a file any backend can import",
    "import": "load an export into an empty backend (SQLite or Postgres; --replace to overwrite)",
    "audit": "show the audit log (filter by workspace, user, action, time; --json for one object per line)",
}


def _common(parser: argparse.ArgumentParser) -> None:
    parser.add_argument("--config", metavar="PATH", help="TOML file (default: ./boring.app.toml if present)")
    parser.add_argument("--data-dir", metavar="DIR", help="where the SQLite database and secrets live")
    parser.add_argument("--database-url", metavar="URL",
                        help="memory://, sqlite:///abs/path.db or postgresql://… (overrides DATABASE_URL)")


def build_parser(extra: Mapping[str, Command] | None = None) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(
        prog="python -m localcore",
        description="localcore: the boring-core server contracts as a desktop-local server.")
    parser.add_argument("--version", action="version", version=f"localcore {__version__}")
    sub = parser.add_subparsers(dest="command", metavar="COMMAND")
    serve = sub.add_parser("serve", help="run the server (the default)")
    _serve_arguments(serve)
    migrate = sub.add_parser("migrate", help="apply database migrations and exit")
    _common(migrate)
    doctor = sub.add_parser("doctor", help="print the resolved configuration (redacted) and check it")
    _common(doctor)
    for name, (add_arguments, _) in (extra or {}).items():
        command = sub.add_parser(name, help=FEATURE_HELP.get(name, f"{name} commands"))
        _common(command)
        add_arguments(command)
    return parser


def _serve_arguments(parser: argparse.ArgumentParser) -> None:
    _common(parser)
    parser.add_argument("--host", help="interface to bind (default 127.0.0.1)")
    parser.add_argument("--port", type=int, help="TCP port (default 8787; 0 picks a free one)")
    parser.add_argument("--no-bootstrap", action="store_true",
                        help="do not offer the one-time owner sign-in link on an empty database")
    parser.add_argument("--workers", type=int, default=1, metavar="N",
                        help="serve from N processes sharing the port (SO_REUSEPORT) and the backend")
    parser.add_argument("--reuse-port", action="store_true", help=argparse.SUPPRESS)
    parser.add_argument("--plugin", action="append", default=[], metavar="MODULE[:ATTR]",
                        help="install the plugin MODULE.ATTR (ATTR defaults to 'plugin'); repeatable, added "
                             "to LOCALCORE_PLUGINS, [plugins] load and the installed 'localcore.plugins' ones")


def resolve_config(args: argparse.Namespace, env: Mapping[str, str] | None = None) -> tuple[Config, str]:
    """Load the configuration, generating and persisting first-run secrets outside production."""
    env = dict(os.environ if env is None else env)
    overrides: dict[str, Any] = {
        "host": getattr(args, "host", None), "port": getattr(args, "port", None),
        "data_dir": args.data_dir, "database_url": args.database_url,
    }
    if getattr(args, "no_bootstrap", False):
        overrides["bootstrap"] = False
    overrides = {k: v for k, v in overrides.items() if v is not None}
    config = load_config(args.config, env, overrides=overrides)
    where = "environment"
    if config.env != "production":
        from localcore.data_dir import prepare_data_dir
        from localcore.secrets_store import ensure_secrets

        prepare_data_dir(config.data_dir)
        generated, where = ensure_secrets(config.data_dir, env)
        if generated:
            config = load_config(args.config, {**env, **generated}, overrides=overrides)
    return config, where


def _feature_commands() -> dict[str, Command]:
    commands: dict[str, Command] = {}
    with contextlib.suppress(ImportError):
        from localcore.metering.cli import COMMAND as credits_command

        commands["credits"] = credits_command
    with contextlib.suppress(ImportError):
        from localcore.workspaces.cli import COMMAND as rotate_command

        commands["rotate-settings-key"] = rotate_command
    with contextlib.suppress(ImportError):
        from localcore.backups.cli import BACKUP_COMMAND, RESTORE_COMMAND

        commands["backup"] = BACKUP_COMMAND
        commands["restore"] = RESTORE_COMMAND
    with contextlib.suppress(ImportError):
        from localcore.transfer.cli import EXPORT_COMMAND, IMPORT_COMMAND

        commands["export"] = EXPORT_COMMAND
        commands["import"] = IMPORT_COMMAND
    with contextlib.suppress(ImportError):
        from localcore.audit.cli import COMMAND as audit_command

        commands["audit"] = audit_command
    return commands


def main(argv: Sequence[str] | None = None) -> int:
    extra = _feature_commands()
    parser = build_parser(extra)
    arguments = list(sys.argv[1:] if argv is None else argv)
    known = {"serve", "migrate", "doctor", *extra, "-h", "--help", "--version"}
    if not arguments or arguments[0] not in known:  # bare `python -m localcore [--port …]` serves
        arguments = ["serve", *arguments]
    args = parser.parse_args(arguments)
    command = args.command
    if command != "serve":
        restore_default_signals()  # only a server turns a signal into a graceful stop
    try:
        config, secrets_where = resolve_config(args)
    except ConfigError as exc:
        print(str(exc), file=sys.stderr)
        return 2
    from localcore.logs import configure_logging

    configure_logging(config.log_level, log_format=config.log_format)
    try:
        if command == "serve":
            return _serve_with_plugins(config, secrets_where, args, arguments)
        if command == "migrate":
            return asyncio.run(migrate(config))
        if command == "doctor":
            return asyncio.run(doctor(config, secrets_where))
        return asyncio.run(extra[command][1](args, config))
    except ConfigError as exc:  # a feature that validates its own settings when it is wired
        print(str(exc), file=sys.stderr)
        return 2


def _serve_with_plugins(config: Config, secrets_where: str, args: argparse.Namespace,
                        arguments: Sequence[str]) -> int:
    """``serve`` with the configured, ``--plugin`` and installed plugins; one that cannot be imported, or
    whose routes collide with core's, stops the start (exit 2) with a message naming it."""
    from localcore.plugins import PluginError, configured_plugins

    try:
        plugins = configured_plugins([*config.plugins, *args.plugin])
        return asyncio.run(serve(config, secrets_where, bootstrap=config.bootstrap, workers=max(1, args.workers),
                                 reuse_port=args.reuse_port or args.workers > 1, argv=arguments,
                                 plugins=plugins))
    except PluginError as exc:
        print(f"localcore: {exc}", file=sys.stderr)
        return 2


async def migrate(config: Config) -> int:
    from backends import open_backend
    from backends.registry import describe

    async with await open_backend(config.database_url) as backend:
        print(f"{backend.kind} {describe(config.database_url)}: schema version {await backend.schema_version()}")
    return 0


async def doctor(config: Config, secrets_where: str) -> int:
    """Print the resolved configuration (redacted) and check each part; exit 1 if any check fails."""
    from backends import open_backend
    from backends.registry import describe

    print(json.dumps(config.redacted(), indent=2, default=str))
    checks: list[tuple[str, bool, str]] = []
    try:
        async with await open_backend(config.database_url) as backend:
            await backend.ping()
            version = await backend.schema_version()
            checks.append(("backend", True, f"{backend.kind} {describe(config.database_url)} "
                                            f"(schema version {version})"))
    except Exception as exc:  # noqa: BLE001 - doctor reports every failure
        checks.append(("backend", False, f"{describe(config.database_url)}: {type(exc).__name__}: "
                                         f"{_safe(str(exc))}"))
    data_dir = config.data_dir
    try:
        data_dir.mkdir(parents=True, exist_ok=True)
        probe = data_dir / ".doctor-probe"
        probe.write_text("ok")
        probe.unlink()
        checks.append(("data dir", True, str(data_dir)))
    except OSError as exc:
        checks.append(("data dir", False, f"{data_dir}: {exc.strerror}"))
    mail = config.mail.scheme + "://" if config.mail else "disabled"
    checks.append(("mail transport", config.mail is not None or config.env != "production", mail))
    checks.append(("secrets", True, secrets_where))
    checks.append(("public URL", True, config.auth.url))
    width = max(len(name) for name, _, _ in checks)
    for name, ok, detail in checks:
        print(f"{'ok  ' if ok else 'FAIL'} {name.ljust(width)}  {detail}")
    return 0 if all(ok for _, ok, _ in checks) else 1


def _safe(text: str) -> str:
    from localcore.logs import redact_text

    return redact_text(text)


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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())

