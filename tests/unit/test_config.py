"""load_config: TOML + upstream env names + CLI overrides, every problem reported at once."""

from __future__ import annotations

from pathlib import Path

import pytest

from localcore import ConfigError, load_config
from localcore.config import parse_window, redact

BASE = {"BETTER_AUTH_SECRET": "s" * 32, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "k" * 32}


def test_defaults_with_no_configuration_serve_locally(tmp_path: Path) -> None:
    config = load_config(env={"LOCALCORE_DATA_DIR": str(tmp_path)})
    assert config.host == "127.0.0.1"
    assert config.port == 8787
    assert config.database_url == f"sqlite:///{(tmp_path / 'localcore.db').resolve()}"
    assert config.mail is not None and config.mail.transport_url == "console://"
    assert config.app_id == config.app_name == "boring-app"
    assert config.app_logo is None
    assert config.auth.url == "http://127.0.0.1:8787"
    assert config.cors_origins == ("http://localhost:3000", "http://localhost:5173")
    assert config.features.invite_ttl_days == 7
    assert config.auth.session_ttl_seconds == 2_592_000


def test_missing_secrets_outside_production_get_random_per_process_values() -> None:
    first = load_config(env={})
    second = load_config(env={})
    assert len(first.auth.secret) >= 32
    assert first.auth.secret != second.auth.secret


def test_production_refuses_missing_secrets_and_console_mail_listing_every_problem() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={"LOCALCORE_ENV": "production", "MAIL_FROM": "a@b.c", "MAIL_TRANSPORT_URL": "console://"})
    text = str(info.value)
    assert "BETTER_AUTH_SECRET" in text
    assert "WORKSPACE_SETTINGS_ENCRYPTION_KEY" in text
    assert "console mail transport is not allowed in production" in text
    assert len(info.value.problems) == 3


def test_production_requires_a_mail_transport() -> None:
    with pytest.raises(ConfigError, match="MAIL_FROM and MAIL_TRANSPORT_URL are required"):
        load_config(env={**BASE, "LOCALCORE_ENV": "production"})


@pytest.mark.parametrize("days, ok", [(0, False), (31, False), (7, True), (1, True), (30, True)])
def test_invite_ttl_days_bounds(tmp_path: Path, days: int, ok: bool) -> None:
    toml = tmp_path / "boring.app.toml"
    toml.write_text(f"[features]\ninvite_ttl_days = {days}\n")
    if ok:
        assert load_config(toml, BASE).features.invite_ttl_days == days
    else:
        with pytest.raises(ConfigError, match="invite_ttl_days"):
            load_config(toml, BASE)


def test_cors_origins_are_split_and_trimmed() -> None:
    config = load_config(env={**BASE, "CORS_ORIGINS": "https://a.com, https://b.com,,"})
    assert config.cors_origins == ("https://a.com", "https://b.com")


def test_https_auth_url_makes_cookies_secure_and_upgrades_csp_unless_overridden() -> None:
    secure = load_config(env={**BASE, "BETTER_AUTH_URL": "https://app.example.com"})
    assert secure.auth.session_cookie_secure is True
    assert secure.csp_upgrade_insecure_requests is True
    assert secure.cookie_name == "__Secure-boring-app.session_token"
    plain = load_config(env={**BASE, "BETTER_AUTH_URL": "https://app.example.com", "SESSION_COOKIE_SECURE": "false"})
    assert plain.auth.session_cookie_secure is False
    assert plain.cookie_name == "boring-app.session_token"


def test_mail_needs_both_variables_and_a_known_scheme() -> None:
    only_from = load_config(env={**BASE, "MAIL_FROM": "a@b.c", "LOCALCORE_ENV": "test"})
    assert only_from.mail is None
    with pytest.raises(ConfigError, match=r"Unknown mail transport scheme: mailto://"):
        load_config(env={**BASE, "MAIL_FROM": "a@b.c", "MAIL_TRANSPORT_URL": "mailto://x"})
    with pytest.raises(ConfigError, match="console-capture"):
        load_config(env={**BASE, "MAIL_FROM": "a@b.c", "MAIL_TRANSPORT_URL": "console-capture:///tmp/x"})


def test_port_out_of_range_and_not_a_number() -> None:
    with pytest.raises(ConfigError, match="port"):
        load_config(env={**BASE, "PORT": "99999"})
    with pytest.raises(ConfigError, match="port"):
        load_config(env={**BASE, "PORT": "abc"})


def test_toml_beats_env_for_app_identity_and_cli_overrides_beat_env(tmp_path: Path) -> None:
    toml = tmp_path / "boring.app.toml"
    toml.write_text('[app]\nid = "acme"\n[frontend.branding]\nname = "Acme"\nlogo = "/logo.svg"\n'
                    "[features]\ngoogle_oauth = true\n")
    config = load_config(toml, {**BASE, "APP_ID": "other", "PORT": "9000"}, overrides={"port": 9100})
    assert (config.app_id, config.app_name, config.app_logo) == ("acme", "Acme", "/logo.svg")
    assert config.port == 9100
    assert config.cookie_name == "acme.session_token"


def test_google_needs_the_flag_and_both_credentials(tmp_path: Path) -> None:
    creds = {"GOOGLE_CLIENT_ID": "id", "GOOGLE_CLIENT_SECRET": "secret"}
    assert load_config(env={**BASE, **creds}).google_enabled is False
    toml = tmp_path / "boring.app.toml"
    toml.write_text("[features]\ngoogle_oauth = true\n")
    assert load_config(toml, BASE).google_enabled is False
    enabled = load_config(toml, {**BASE, **creds, "GOOGLE_TOKEN_URL": "http://127.0.0.1:1/token"})
    assert enabled.google_enabled is True
    assert enabled.auth.google is not None and enabled.auth.google.token_url == "http://127.0.0.1:1/token"


def test_core_stores_and_database_url_pick_the_backend(tmp_path: Path) -> None:
    assert load_config(env={**BASE, "CORE_STORES": "memory"}).database_url == "memory://"
    url = "postgresql://u:p@h/db"
    assert load_config(env={**BASE, "DATABASE_URL": url}).database_url == url
    with pytest.raises(ConfigError, match="DATABASE_URL: required when CORE_STORES=postgres"):
        load_config(env={**BASE, "CORE_STORES": "postgres"})
    overridden = load_config(env={**BASE, "DATABASE_URL": url}, overrides={"database_url": "memory://"})
    assert overridden.database_url == "memory://"


def test_rate_limit_overrides_are_validated() -> None:
    config = load_config(env={**BASE, "RATE_LIMIT_OVERRIDES_JSON":
                              '{"/auth/sign-in/email": {"max": 2, "window": "1 second"}}'})
    assert config.rate_limit_overrides["/auth/sign-in/email"].window_seconds == 1
    with pytest.raises(ConfigError, match="rateLimit"):
        load_config(env={**BASE, "RATE_LIMIT_OVERRIDES_JSON": "{not json"})
    with pytest.raises(ConfigError, match="max"):
        load_config(env={**BASE, "RATE_LIMIT_OVERRIDES_JSON": '{"/x": {"max": 0, "window": "1 minute"}}'})


def test_several_problems_are_reported_together() -> None:
    with pytest.raises(ConfigError) as info:
        load_config(env={**BASE, "PORT": "99999", "BODY_LIMIT_BYTES": "-5", "LOG_LEVEL": "loud"})
    assert len(info.value.problems) == 3


def test_invalid_toml_is_a_config_error(tmp_path: Path) -> None:
    toml = tmp_path / "boring.app.toml"
    toml.write_text("[app\n")
    with pytest.raises(ConfigError, match="invalid TOML"):
        load_config(toml, BASE)


def test_public_payload_exposes_nothing_secret() -> None:
    config = load_config(env={**BASE, "DATABASE_URL": "postgresql://u:pw@h/db"})
    payload = config.public_payload()
    assert set(payload) == {"appId", "appName", "appLogo", "apiBase", "features"}
    assert set(payload["features"]) == {"githubOauth", "googleOauth", "invitesEnabled", "sendWelcomeEmail"}
    assert "pw" not in str(payload) and BASE["BETTER_AUTH_SECRET"] not in str(payload)


def test_redacted_view_hides_every_secret() -> None:
    config = load_config(env={**BASE, "DATABASE_URL": "postgresql://u:hunter2@h/db", "MAIL_FROM": "a@b.c",
                              "MAIL_TRANSPORT_URL": "smtp://user:smtp-pass@mail:25",
                              "GOOGLE_CLIENT_ID": "gid", "GOOGLE_CLIENT_SECRET": "gsecret"})
    text = str(config.redacted())
    for secret in ("hunter2", "smtp-pass", "gsecret", BASE["BETTER_AUTH_SECRET"],
                   BASE["WORKSPACE_SETTINGS_ENCRYPTION_KEY"]):
        assert secret not in text
    assert "postgresql://u:***@h/db" in text


def test_redact_matches_keys_at_any_depth() -> None:
    assert redact({"a": {"Authorization": "Bearer x", "ok": 1}, "list": [{"cookie": "c"}]}) == {
        "a": {"Authorization": "[REDACTED]", "ok": 1}, "list": [{"cookie": "[REDACTED]"}]}


@pytest.mark.parametrize("text, seconds", [("1 minute", 60), ("2 hours", 7200), ("1 second", 1), ("500 ms", 0.5)])
def test_parse_window(text: str, seconds: float) -> None:
    assert parse_window(text) == seconds


def test_workspace_root_comes_from_env_or_toml_and_must_be_absolute(tmp_path: Path) -> None:
    assert load_config(env=BASE).workspace_root is None
    assert load_config(env={**BASE, "LOCALCORE_WORKSPACE_ROOT": str(tmp_path)}).workspace_root == tmp_path
    toml = tmp_path / "boring.app.toml"
    toml.write_text(f'[workspaces]\nroot = "{tmp_path}"\n')
    assert load_config(toml, BASE).workspace_root == tmp_path
    with pytest.raises(ConfigError, match="absolute"):
        load_config(env={**BASE, "LOCALCORE_WORKSPACE_ROOT": "relative/dir"})
