"""Attack: a production server started with weak secrets or an unsafe setting (docs/compatibility.md,
"Security hardening").

Today ``LOCALCORE_ENV=production`` accepts a 5-character ``BETTER_AUTH_SECRET`` (session cookies are
HMACs of it: brute-forced offline, forged at will), a settings key of any shape, a plain-http public URL
(cookies and one-time links in clear text), the bootstrap link (the first visitor becomes the owner) and a
Stripe webhook tolerance of 0 (replayable webhooks). Fixed: each is a ``ConfigError`` naming the
variable, all reported at once, and the CLI exits non-zero without starting anything.
"""

from __future__ import annotations

import base64
import socket
import subprocess
from pathlib import Path

import pytest

from localcore import load_config
from localcore.errors import ConfigError
from tests.api.security_support import run_cli

PRODUCTION_ENV = {
    "LOCALCORE_ENV": "production",
    "BETTER_AUTH_SECRET": "prod-secret-" + "q7" * 16,
    "WORKSPACE_SETTINGS_ENCRYPTION_KEY": "0123456789abcdef" * 4,
    "BETTER_AUTH_URL": "https://app.example.com",
    "MAIL_FROM": "App <noreply@example.com>",
    "MAIL_TRANSPORT_URL": "smtp://localhost:2525",
}

#: (variable, refused values, accepted values)
RULES: list[tuple[str, list[str], list[str]]] = [
    ("BETTER_AUTH_SECRET", ["short", "s" * 31], ["s" * 32, "x" * 64]),
    ("WORKSPACE_SETTINGS_ENCRYPTION_KEY",
     ["k" * 64, "ab" * 31, "ab" * 33, "short-key", base64.b64encode(bytes(16)).decode(),
      base64.b64encode(bytes(range(33))).decode()],
     ["ab" * 32, "0123456789ABCDEF" * 4, base64.b64encode(b"\xfb\xff" * 16).decode(),
      base64.urlsafe_b64encode(b"\xfb\xff" * 16).decode()]),
    ("BETTER_AUTH_URL",
     ["http://app.example.com", "http://192.168.1.20:8787", "http://127.0.0.1.nip.io", "http://localhost.evil.example"],
     ["https://app.example.com", "http://localhost:8787", "http://127.0.0.1"]),
    ("LOCALCORE_BOOTSTRAP", ["true"], ["false"]),
    ("BORING_CREDITS_STRIPE_WEBHOOK_TOLERANCE_SECONDS", ["0", "-1"], ["300"]),
]
REFUSED = [(name, value) for name, refused, _ in RULES for value in refused]
ACCEPTED = [(name, value) for name, _, accepted in RULES for value in accepted]


def _problems(**env: str) -> str:
    with pytest.raises(ConfigError) as refused:
        load_config(env={**PRODUCTION_ENV, **env})
    return str(refused.value)


@pytest.mark.parametrize(("name", "value"), REFUSED, ids=[f"{n}={v}" for n, v in REFUSED])
def test_production_refuses_a_weak_value_naming_the_variable(name: str, value: str) -> None:
    assert name in _problems(**{name: value})


@pytest.mark.parametrize(("name", "value"), ACCEPTED, ids=[f"{n}={v}" for n, v in ACCEPTED])
def test_production_accepts_the_strong_value_but_not_the_weak_one(name: str, value: str) -> None:
    config = load_config(env={**PRODUCTION_ENV, name: value})
    assert config.env == "production"
    weak = next(refused for n, refused, _ in RULES if n == name)[0]
    assert name in _problems(**{name: weak})


def test_every_problem_is_reported_at_once() -> None:
    load_config(env=PRODUCTION_ENV)  # the valid production environment loads
    message = _problems(**{name: refused[0] for name, refused, _ in RULES})
    for name, _, _ in RULES:
        assert name in message, message


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _listening(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(0.5)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.parametrize("command", ["serve", "doctor"])
def test_the_cli_refuses_a_weak_production_secret_and_starts_nothing(tmp_path: Path, command: str) -> None:
    data_dir = tmp_path / "data"
    port = _free_port()
    args = [command, "--data-dir", str(data_dir), *(["--port", str(port)] if command == "serve" else [])]
    try:
        result = run_cli(*args, cwd=tmp_path, timeout=20, **{**PRODUCTION_ENV, "BETTER_AUTH_SECRET": "hunter2"})
    except subprocess.TimeoutExpired:
        pytest.fail(f"`{command}` kept running with a 7-character BETTER_AUTH_SECRET in production")
    assert result.returncode != 0, result.stdout
    assert "BETTER_AUTH_SECRET" in result.stderr
    assert "hunter2" not in result.stderr + result.stdout  # the message names the variable, not the value
    assert "listening on" not in result.stdout
    assert not _listening(port)
    assert not (data_dir / "localcore.db").exists()
