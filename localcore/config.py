"""Configuration: ``boring.app.toml`` + environment (upstream names) + CLI overrides, validated by pydantic.

Precedence, lowest first: built-in defaults < TOML < environment < CLI flags (``overrides``), except the
keys upstream reads from TOML first (``[app] id`` and ``[frontend.branding] name`` beat ``APP_ID`` and
``APP_NAME``). Every problem is collected and reported at once in one ``ConfigError``.

Secrets are never generated here: ``localcore.secrets`` resolves them for the CLI (keyring or a 0600
file). A library caller that passes no secrets outside production gets random per-process ones.
"""

from __future__ import annotations

import json
import os
import re
import secrets
import tomllib
from collections.abc import Mapping
from pathlib import Path
from typing import Any, Literal
from urllib.parse import urlsplit

from pydantic import BaseModel, ConfigDict, Field, ValidationError, field_validator

from localcore.config_rules import (
    REDACTED as REDACTED,
)
from localcore.config_rules import (
    SECRET_KEYWORDS as SECRET_KEYWORDS,
)
from localcore.config_rules import (
    bootstrap_choice,
    database_url_choice,
    default_trusted_hosts,
    production_problems,
    proxy_hops,
    url_host,
)
from localcore.config_rules import env_bool as _bool
from localcore.config_rules import redact as redact
from localcore.errors import ConfigError
from localcore.metering import CreditsSettings, load_credits_settings

DEFAULT_PORT = 8787
DEFAULT_HOST = "127.0.0.1"
MAIL_SCHEMES = ("resend://", "smtp://", "smtps://", "console://", "console-capture://")
_WINDOW = re.compile(r"^\s*(\d+)\s*(ms|millisecond|second|minute|hour|day)s?\s*$", re.IGNORECASE)
_WINDOW_SECONDS = {"ms": 0.001, "millisecond": 0.001, "second": 1, "minute": 60, "hour": 3600, "day": 86400}


def parse_window(text: str) -> float:
    """``"1 minute"`` → 60.0; ``"2 hours"`` → 7200.0; ``"500 ms"`` → 0.5."""
    match = _WINDOW.match(text)
    if not match:
        raise ValueError(f"invalid window {text!r} (expected e.g. '1 minute', '10 seconds', '1 hour')")
    return int(match.group(1)) * _WINDOW_SECONDS[match.group(2).lower()]


class _Model(BaseModel):
    model_config = ConfigDict(frozen=True, extra="forbid")


class RateLimitRule(_Model):
    max: int = Field(gt=0)
    window: str = Field(min_length=1)

    @field_validator("window")
    @classmethod
    def _valid_window(cls, value: str) -> str:
        parse_window(value)
        return value

    @property
    def window_seconds(self) -> float:
        return parse_window(self.window)


class Features(_Model):
    #: Accepted for upstream's configuration files; GitHub sign-in is not implemented, so it is never
    #: advertised (``githubOauth`` is always false in the config and capabilities).
    github_oauth: bool = False
    google_oauth: bool = False
    invites_enabled: bool = True
    invite_ttl_days: int = Field(default=7, ge=1, le=30)
    send_welcome_email: bool = True


class OAuthProvider(_Model):
    client_id: str = Field(min_length=1)
    client_secret: str = Field(min_length=1)
    authorize_url: str
    token_url: str
    userinfo_url: str


class AuthSettings(_Model):
    secret: str = Field(min_length=1)
    url: str
    session_ttl_seconds: int = Field(default=2_592_000, gt=0)
    session_cookie_secure: bool = False
    verification_ttl_seconds: int = Field(default=86_400, gt=0)
    reset_ttl_seconds: int = Field(default=3_600, gt=0)
    magic_link_ttl_seconds: int = Field(default=600, gt=0)
    google: OAuthProvider | None = None

    @field_validator("url")
    @classmethod
    def _valid_url(cls, value: str) -> str:
        parts = urlsplit(value)
        if parts.scheme not in ("http", "https") or not parts.netloc:
            raise ValueError("must be an absolute http(s) URL")
        return value.rstrip("/")


class MailSettings(_Model):
    sender: str = Field(min_length=1)
    transport_url: str
    resend_base_url: str = "https://api.resend.com"

    @property
    def scheme(self) -> str:
        return self.transport_url.split("://", 1)[0]


class Config(_Model):
    env: Literal["development", "production", "test"] = "development"
    app_id: str = Field(default="boring-app", min_length=1)
    app_name: str = Field(default="boring-app", min_length=1)
    app_logo: str | None = None
    host: str = Field(default=DEFAULT_HOST, min_length=1)
    port: int = Field(default=DEFAULT_PORT, ge=0, le=65535)
    data_dir: Path
    database_url: str
    #: Postgres connections per process (``DATABASE_POOL_SIZE``).
    database_pool_size: int = Field(default=10, ge=1, le=1000)
    auth: AuthSettings
    mail: MailSettings | None = None
    features: Features = Features()
    cors_origins: tuple[str, ...] = ()
    trusted_hosts: tuple[str, ...] = ()
    body_limit_bytes: int = Field(default=16_777_216, gt=0)
    log_level: Literal["fatal", "error", "warn", "info", "debug", "trace"] = "info"
    #: ``json``: one JSON object per log line (request id, route, status, duration, user id).
    log_format: Literal["text", "json"] = "text"
    #: ``GET /metrics`` (Prometheus): off by default; readable from loopback or with ``metrics_token``.
    metrics_enabled: bool = False
    metrics_token: str | None = None
    rate_limit_overrides: dict[str, RateLimitRule] = {}
    rate_limits_enabled: bool = True
    #: Reverse-proxy hops whose ``X-Forwarded-For`` entries are trusted; 0 = the header is ignored.
    trust_proxy: int = Field(default=0, ge=0, le=32)
    #: Root of the optional filesystem workspace provisioner (absolute); None = no provisioner.
    workspace_root: Path | None = None
    csp_enabled: bool = True
    csp_upgrade_insecure_requests: bool = False
    workspace_settings_encryption_key: str = Field(min_length=1)
    workspace_settings_previous_keys: tuple[str, ...] = ()
    #: Opens the dev mailbox (``/api/dev/mail``): only the person who started the server holds it.
    dev_mailbox_token: str = Field(min_length=16)
    #: ``[credits]`` and ``BORING_CREDITS_*``, read and checked by the credits settings' rules.
    credits: CreditsSettings = CreditsSettings()
    web_root: Path | None = None
    #: Plugin specs (``MODULE[:ATTR]``) from ``[plugins] load`` then ``LOCALCORE_PLUGINS``; the CLI loads
    #: them (``localcore.plugins.configured_plugins``) with its ``--plugin`` ones and the installed ones.
    plugins: tuple[str, ...] = ()
    bootstrap: bool = True
    #: ``[audit] retention_days`` / ``AUDIT_RETENTION_DAYS``: audit events older than this are swept.
    audit_retention_days: int = Field(default=365, ge=1, le=36500)
    #: ``auth.url`` was derived from host and port (no ``BETTER_AUTH_URL``): ``serve`` rewrites it with
    #: the port actually bound when ``--port 0`` asked for a free one.
    public_url_derived: bool = False

    @property
    def google_enabled(self) -> bool:
        """Google sign-in is usable: the flag AND both credentials (docs/compatibility.md, fix 13)."""
        return self.features.google_oauth and self.auth.google is not None

    @property
    def mail_enabled(self) -> bool:
        return self.mail is not None

    @property
    def cookie_name(self) -> str:
        base = f"{self.app_id}.session_token"
        return f"__Secure-{base}" if self.auth.session_cookie_secure else base

    @property
    def trusted_origins(self) -> tuple[str, ...]:
        """``CORS_ORIGINS`` plus the origin of ``BETTER_AUTH_URL`` (better-auth's trustedOrigins)."""
        own = origin_of(self.auth.url)
        return tuple(dict.fromkeys([*(o.rstrip("/") for o in self.cors_origins), own]))

    def public_payload(self) -> dict[str, Any]:
        """``GET /api/v1/config``: nothing secret, nothing operational."""
        return {
            "appId": self.app_id,
            "appName": self.app_name,
            "appLogo": self.app_logo,
            "apiBase": self.auth.url,
            "features": {
                "githubOauth": False,  # GitHub sign-in is not implemented: never advertised
                "googleOauth": self.google_enabled,
                "invitesEnabled": self.features.invites_enabled,
                "sendWelcomeEmail": self.features.send_welcome_email,
            },
        }

    def redacted(self) -> dict[str, Any]:
        """The whole configuration with every secret replaced by ``[REDACTED]`` (safe to log)."""
        redacted: dict[str, Any] = redact(self.model_dump(mode="json"))
        return redacted


def origin_of(url: str) -> str:
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc}".lower()


# --------------------------------------------------------------------------- loading


def _first(*values: Any) -> Any:
    """The first value that is set (not None and not an empty string)."""
    return next(v for v in values if v is not None and v != "")


def _csv(text: str) -> list[str]:
    return [part.strip() for part in text.split(",") if part.strip()]


def _toml(path: Path | None, problems: list[str]) -> dict[str, Any]:
    if path is None:
        path = Path("boring.app.toml")
        if not path.exists():
            return {}
    try:
        with path.open("rb") as handle:
            return tomllib.load(handle)
    except FileNotFoundError:
        problems.append(f"config: file not found: {path}")
    except tomllib.TOMLDecodeError as exc:
        problems.append(f"config: invalid TOML in {path}: {exc}")
    return {}


def default_data_dir() -> Path:
    from platformdirs import user_data_dir

    return Path(user_data_dir("localcore", appauthor=False))


def load_config(toml_path: str | Path | None = None, env: Mapping[str, str] | None = None, *,
                overrides: Mapping[str, Any] | None = None) -> Config:
    """Build and validate the configuration; raises ``ConfigError`` listing every problem."""
    env = dict(os.environ if env is None else env)
    overrides = dict(overrides or {})
    problems: list[str] = []
    toml = _toml(Path(toml_path) if toml_path is not None else None, problems)
    get = env.get

    def section(*names: str) -> dict[str, Any]:
        node: Any = toml
        for name in names:
            node = node.get(name, {}) if isinstance(node, dict) else {}
        return node if isinstance(node, dict) else {}

    run_env = (get("LOCALCORE_ENV") or get("NODE_ENV") or "development").lower()
    if run_env not in ("development", "production", "test"):
        run_env = "development"
    production = run_env == "production"
    server = section("server")

    raw: dict[str, Any] = {"env": run_env}
    raw["app_id"] = section("app").get("id") or get("APP_ID") or "boring-app"
    raw["app_name"] = section("frontend", "branding").get("name") or get("APP_NAME") or raw["app_id"]
    raw["app_logo"] = section("frontend", "branding").get("logo")

    raw["host"] = _first(overrides.get("host"), get("HOST"), server.get("host"), DEFAULT_HOST)
    # ``is not None`` rather than truthiness: port 0 (pick a free one) is a real choice.
    port_text = _first(overrides.get("port"), get("PORT"), server.get("port"), DEFAULT_PORT)
    try:
        raw["port"] = int(port_text)
    except (TypeError, ValueError):
        problems.append(f"port: must be an integer 1..65535 (got {port_text!r})")
        raw["port"] = DEFAULT_PORT

    data_dir = overrides.get("data_dir") or get("LOCALCORE_DATA_DIR") or server.get("data_dir")
    raw["data_dir"] = Path(data_dir).expanduser() if data_dir else default_data_dir()
    raw["database_url"] = database_url_choice(overrides, get, server, raw["data_dir"], problems)

    auth_url = get("BETTER_AUTH_URL") or section("auth").get("url")
    if not auth_url:
        auth_url = f"http://{url_host(raw['host'])}:{raw['port']}"
        raw["public_url_derived"] = True
    https = str(auth_url).startswith("https://")
    auth_section = section("auth")
    auth: dict[str, Any] = {
        "url": auth_url,
        "secret": get("BETTER_AUTH_SECRET") or _missing_secret("BETTER_AUTH_SECRET", production, problems),
        "session_cookie_secure": _bool(get("SESSION_COOKIE_SECURE", "")) if "SESSION_COOKIE_SECURE" in env
        else https,
    }
    for key, env_name in (("session_ttl_seconds", "SESSION_TTL_SECONDS"),
                          ("verification_ttl_seconds", "EMAIL_VERIFICATION_TTL_SECONDS"),
                          ("reset_ttl_seconds", "PASSWORD_RESET_TTL_SECONDS"),
                          ("magic_link_ttl_seconds", "MAGIC_LINK_TTL_SECONDS")):
        value = get(env_name) or auth_section.get(key)
        if value is not None:
            auth[key] = _int(value, key, problems)
    for provider, defaults in (("google", _GOOGLE_ENDPOINTS),):
        upper = provider.upper()
        client_id, client_secret = get(f"{upper}_CLIENT_ID"), get(f"{upper}_CLIENT_SECRET")
        if client_id and client_secret:
            auth[provider] = {
                "client_id": client_id, "client_secret": client_secret,
                **{key: get(f"{upper}_{key.upper()}") or value for key, value in defaults.items()},
            }
    raw["auth"] = auth

    mail_from = get("MAIL_FROM") or section("mail").get("from")
    transport = get("MAIL_TRANSPORT_URL") or section("mail").get("transport_url")
    if not production and not transport and not mail_from:
        mail_from, transport = f"{raw['app_name']} <noreply@localhost>", "console://"
    if mail_from and transport:
        if not str(transport).startswith(MAIL_SCHEMES):
            scheme = str(transport).split("://", 1)[0]
            problems.append(f"mail.transport_url: Unknown mail transport scheme: {scheme}://. Expected "
                            "resend://, smtp://, smtps://, console://, or console-capture://")
        elif production and str(transport).startswith("console://"):
            problems.append("mail.transport_url: console mail transport is not allowed in production")
        elif run_env != "test" and str(transport).startswith("console-capture://"):
            problems.append("mail.transport_url: console-capture:// is only allowed when LOCALCORE_ENV=test")
        raw["mail"] = {"sender": mail_from, "transport_url": transport,
                       **({"resend_base_url": get("RESEND_API_BASE_URL")} if get("RESEND_API_BASE_URL") else {})}
    elif production:
        problems.append("mail: MAIL_FROM and MAIL_TRANSPORT_URL are required in production")

    features = dict(section("features"))
    if "github_oauth" not in features and "GITHUB_OAUTH" in env:
        features["github_oauth"] = _bool(env["GITHUB_OAUTH"])
    if "SEND_WELCOME_EMAIL" in env:
        features["send_welcome_email"] = env["SEND_WELCOME_EMAIL"].strip().lower() != "false"
    raw["features"] = features

    cors = _csv(get("CORS_ORIGINS", ""))
    raw["cors_origins"] = cors or ["http://localhost:3000", "http://localhost:5173"]
    raw["trusted_hosts"] = _csv(get("TRUSTED_HOSTS", "")) or default_trusted_hosts(raw["host"], auth_url)
    if get("DATABASE_POOL_SIZE"):
        raw["database_pool_size"] = _int(get("DATABASE_POOL_SIZE"), "database_pool_size", problems)
    if get("BODY_LIMIT_BYTES"):
        raw["body_limit_bytes"] = _int(get("BODY_LIMIT_BYTES"), "body_limit_bytes", problems)
    if get("LOG_LEVEL"):
        raw["log_level"] = get("LOG_LEVEL")
    if get("LOG_FORMAT"):
        raw["log_format"] = get("LOG_FORMAT", "").strip().lower()
    if "METRICS_ENABLED" in env:
        raw["metrics_enabled"] = _bool(env["METRICS_ENABLED"])
    raw["metrics_token"] = get("METRICS_TOKEN") or None
    if get("RATE_LIMIT_OVERRIDES_JSON"):
        try:
            raw["rate_limit_overrides"] = json.loads(env["RATE_LIMIT_OVERRIDES_JSON"])
        except json.JSONDecodeError as exc:
            problems.append(f"rateLimit: RATE_LIMIT_OVERRIDES_JSON is not valid JSON ({exc.msg})")
    workspace_root = get("LOCALCORE_WORKSPACE_ROOT") or section("workspaces").get("root")
    if workspace_root:
        if not Path(str(workspace_root)).expanduser().is_absolute():
            problems.append("workspaces.root: must be an absolute path (LOCALCORE_WORKSPACE_ROOT)")
        raw["workspace_root"] = Path(str(workspace_root)).expanduser()
    if "TRUST_PROXY" in env:
        raw["trust_proxy"] = proxy_hops(env["TRUST_PROXY"], problems)
    if "LOCALCORE_RATE_LIMITS" in env:
        raw["rate_limits_enabled"] = env["LOCALCORE_RATE_LIMITS"].strip().lower() != "off"
    raw["csp_enabled"] = get("CSP_ENABLED", "true").strip().lower() != "false"
    raw["csp_upgrade_insecure_requests"] = (
        _bool(env["CSP_UPGRADE_INSECURE_REQUESTS"]) if "CSP_UPGRADE_INSECURE_REQUESTS" in env else https)
    raw["workspace_settings_encryption_key"] = get("WORKSPACE_SETTINGS_ENCRYPTION_KEY") or _missing_secret(
        "WORKSPACE_SETTINGS_ENCRYPTION_KEY", production, problems)
    raw["workspace_settings_previous_keys"] = _csv(get("WORKSPACE_SETTINGS_PREVIOUS_KEYS", ""))
    # Not a production secret (console mail, the only transport with a mailbox, is refused there).
    raw["dev_mailbox_token"] = get("DEV_MAILBOX_TOKEN") or secrets.token_urlsafe(32)
    credits_problems: list[str] = []
    raw["credits"] = load_credits_settings(section("credits"), env, production=production,
                                           problems=credits_problems)
    load = section("plugins").get("load", [])
    if not isinstance(load, list) or not all(isinstance(spec, str) for spec in load):
        problems.append("plugins.load: must be a list of \"MODULE[:ATTR]\" strings")
        load = []
    raw["plugins"] = list(dict.fromkeys([*(spec.strip() for spec in load if spec.strip()),
                                         *_csv(get("LOCALCORE_PLUGINS", ""))]))
    if get("LOCALCORE_WEB_ROOT"):
        raw["web_root"] = Path(env["LOCALCORE_WEB_ROOT"])
    raw["bootstrap"] = bootstrap_choice(overrides, env, server, production, problems)
    retention = get("AUDIT_RETENTION_DAYS") or section("audit").get("retention_days")
    if retention is not None:
        raw["audit_retention_days"] = _int(retention, "audit.retention_days", problems)
    if production:
        problems += production_problems(raw)

    try:
        config = Config.model_validate(raw)
    except ValidationError as exc:
        for issue in exc.errors():
            path = ".".join(str(p) for p in issue["loc"]) or "config"
            problems.append(f"{path}: {issue['msg']}")
        raise ConfigError(problems + credits_problems) from None
    problems += credits_problems
    if problems:
        raise ConfigError(problems)
    return config


_GOOGLE_ENDPOINTS = {
    "authorize_url": "https://accounts.google.com/o/oauth2/v2/auth",
    "token_url": "https://oauth2.googleapis.com/token",
    "userinfo_url": "https://openidconnect.googleapis.com/v1/userinfo",
}


def _missing_secret(name: str, production: bool, problems: list[str]) -> str:
    if production:
        problems.append(f"{name}: required in production")
        return "missing"
    # Outside production a library caller may omit secrets: use a random one for this process only.
    return secrets.token_hex(32)


def _int(value: Any, name: str, problems: list[str]) -> int:
    try:
        return int(value)
    except (TypeError, ValueError):
        problems.append(f"{name}: must be an integer (got {value!r})")
        return 1
