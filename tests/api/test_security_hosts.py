"""Attack: DNS rebinding against a server bound to every interface (docs/compatibility.md, "Security hardening").

With ``--host 0.0.0.0`` (or ``::``) the default ``TRUSTED_HOSTS`` is today ``*``: a web page on
``evil.example`` that rebinds its name to the machine drives the API with the browser's same-origin
blessing. Fixed: the default allow-list stays loopback names + this machine's names (``*`` only when set
explicitly), so ``Host: evil.example`` is 400 ``invalid_host``; and console mail on a non-loopback bind
prints a warning in the banner.
"""

from __future__ import annotations

import socket
from pathlib import Path

import pytest

from localcore import load_config
from tests.api.auth_support import ClientFactory
from tests.api.security_support import ENV_WITHOUT_TRUSTED_HOSTS, config_without_trusted_hosts, http, running_server

WILDCARDS = ["0.0.0.0", "::"]


@pytest.mark.parametrize("host", WILDCARDS)
def test_a_wildcard_bind_keeps_a_host_allow_list(host: str) -> None:
    trusted = load_config(env={**ENV_WITHOUT_TRUSTED_HOSTS, "HOST": host}).trusted_hosts
    assert "*" not in trusted
    for name in ("localhost", "127.0.0.1", socket.gethostname().lower()):
        assert name in trusted, (name, trusted)
    assert "evil.example" not in trusted
    public = load_config(env={**ENV_WITHOUT_TRUSTED_HOSTS, "HOST": host, "BETTER_AUTH_URL": "https://notes.example.com"})
    assert "*" not in public.trusted_hosts and "notes.example.com" in public.trusted_hosts
    # Any host only when someone says so.
    assert load_config(env={**ENV_WITHOUT_TRUSTED_HOSTS, "HOST": host, "TRUSTED_HOSTS": "*"}).trusted_hosts == ("*",)


@pytest.mark.parametrize("host", WILDCARDS)
async def test_a_wildcard_bound_app_refuses_a_rebound_host_name(make_client: ClientFactory, host: str) -> None:
    client = await make_client(config_without_trusted_hosts(HOST=host))
    port = client.http.port
    for path in ("/health", "/api/v1/config", "/api/dev/mail"):
        refused = await client.http.get(path, headers={"Host": f"evil.example:{port}"})
        assert refused.status == 400, (path, await refused.text())
        assert (await refused.json())["code"] == "invalid_host"
    sign_up = await client.http.post("/auth/sign-up/email", headers={"Host": "evil.example"},
                                     json={"name": "x", "email": "x@example.com", "password": "Zk8$mN!qR2xFgWpJ"})
    assert sign_up.status == 400
    assert await client.backend.users.get_user_by_email("x@example.com") is None
    for name in ("localhost", "127.0.0.1", socket.gethostname().lower()):
        ok = await client.http.get("/health", headers={"Host": f"{name}:{port}"})
        assert ok.status == 200, name


def test_a_wildcard_bind_with_console_mail_warns_and_refuses_foreign_hosts(tmp_path: Path) -> None:
    with running_server("--data-dir", str(tmp_path / "data"), "--host", "0.0.0.0", "--port", "0", "--no-bootstrap",
                        cwd=tmp_path) as server:
        warning = server.wait_for_line(lambda line: "warning" in line.lower() and "console mail" in line.lower())
        assert "console mail" in warning.lower()
        status, body = http("GET", f"{server.url}/health", headers={"Host": "evil.example"})
        assert (status, body["code"]) == (400, "invalid_host")
        assert http("GET", f"{server.url}/health")[0] == 200
