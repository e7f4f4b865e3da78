"""Command line: ``python -m localcore [serve|migrate|doctor|…]`` — the composition root.

It parses the command line, resolves the configuration and runs the command: ``serve`` is
``localcore.serve``; ``migrate`` and ``doctor`` live here; the features contribute the rest.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import json
import logging
import os
import sys
from collections.abc import Callable, Coroutine, Mapping, Sequence
from typing import TYPE_CHECKING, Any

from localcore import __version__
from localcore.config import Config, load_config
from localcore.errors import ConfigError
from localcore.shutdown import restore_default_signals

if TYPE_CHECKING:
    pass

log = logging.getLogger("localcore")
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
    from localcore.serve import serve

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


if __name__ == "__main__":  # pragma: no cover
    raise SystemExit(main())
