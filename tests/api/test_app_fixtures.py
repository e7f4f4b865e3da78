"""The app fixtures localcore's pytest plugin ships for child apps (``localcore.testing.app_fixtures``):
a child project outside this repository tests its plugin's routes on memory, SQLite and Postgres with
nothing but ``pip install localcore``; and the client's helpers (sign-up, mailbox, clock) do what they say.
"""

from __future__ import annotations

import os
import subprocess
import sys
from collections.abc import Callable
from datetime import datetime, timedelta
from pathlib import Path

from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.testing.app_client import LocalcoreClient
from localcore.testing.app_fixtures import TEST_ENV

CHILD_PLUGIN = '''
from localcore import Plugin, clock_of, require_user

plugin = Plugin("child", capabilities={"hello": True})

@plugin.get("/api/v1/child/hello", summary="Who am I")
async def hello(request):
    user = await require_user(request)
    return {"email": user.email, "now": clock_of(request)().isoformat()}
'''

CHILD_TESTS = '''
async def test_hello(localcore_client, localcore_plugins, backend_kind):
    assert [p.name for p in localcore_plugins] == ["child"]        # from boring.app.toml
    assert (await localcore_client.call("GET", "/api/v1/child/hello"))[0] == 401
    ada = await localcore_client.signed_in("ada@example.com")
    status, body = await ada.call("GET", "/api/v1/child/hello")
    assert (status, body["email"]) == (200, "ada@example.com")
    mail = await ada.last_mail("ada@example.com", "verify")
    assert mail.link("verify-email").startswith("/auth/verify-email?token=")
    ada.advance_clock(31 * 24 * 3600)                                  # past the session TTL
    assert (await ada.call("GET", "/api/v1/child/hello"))[0] == 401
    print("BACKEND", backend_kind)
'''


def test_a_child_project_tests_its_plugin_on_every_backend_with_the_shipped_fixtures(
        tmp_path: Path, postgres_admin_url: str) -> None:
    (tmp_path / "child_app.py").write_text(CHILD_PLUGIN)
    (tmp_path / "test_child.py").write_text(CHILD_TESTS)
    (tmp_path / "boring.app.toml").write_text('[plugins]\nload = ["child_app"]\n')
    (tmp_path / "pytest.ini").write_text("[pytest]\nasyncio_mode = auto\n"
                                         "asyncio_default_fixture_loop_scope = function\n")
    env = {key: value for key, value in os.environ.items() if key != "LOCALCORE_PLUGINS"}
    env.update(PYTHONPATH=str(tmp_path), LOCALCORE_TEST_POSTGRES_URL=postgres_admin_url, CI="true")
    result = subprocess.run([sys.executable, "-m", "pytest", "-q", "-s", "-p", "no:cacheprovider", "-p", "no:randomly",
                             "test_child.py"], cwd=tmp_path, env=env, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 passed" in result.stdout, result.stdout
    assert {line.split()[-1] for line in result.stdout.splitlines() if "BACKEND" in line} == \
        {"memory", "sqlite", "postgres"}


async def test_signed_in_clients_are_separate_browsers(localcore_client: LocalcoreClient) -> None:
    ada = await localcore_client.signed_in("ada@example.com")
    bob = await localcore_client.signed_in("bob@example.com", verify=False)
    assert ada.user is not None and bob.user is not None and ada.user.id != bob.user.id
    assert ada.user.workspace_id is not None and ada.user.workspace_id != bob.user.workspace_id
    me = [(await who.call("GET", "/api/v1/me"))[1]["user"] for who in (ada, bob)]
    assert [(m["email"], m["emailVerified"]) for m in me] == [("ada@example.com", True), ("bob@example.com", False)]
    assert (await localcore_client.call("GET", "/api/v1/me"))[0] == 401  # the first client stays signed out
    await ada.sign_out()
    assert ada.user is None and (await ada.call("GET", "/api/v1/me"))[0] == 401
    await ada.sign_in("ada@example.com")
    assert (await ada.call("GET", "/api/v1/me"))[0] == 200


async def test_the_mailbox_helpers_filter_and_extract_links(localcore_client: LocalcoreClient) -> None:
    await localcore_client.signed_in("ada@example.com")
    status, _ = await localcore_client.call("POST", "/auth/sign-in/magic-link", {"email": "ada@example.com"})
    assert status == 200
    newest = await localcore_client.last_mail("ada@example.com")
    assert "/auth/magic-link/verify" in newest.link("magic-link")
    subjects = [m.subject for m in await localcore_client.mails("ada@example.com")]
    assert len(subjects) == 3 and subjects[0] == newest.subject  # magic link, verification, welcome
    assert await localcore_client.mails("nobody@example.com") == []
    assert [m.subject for m in await localcore_client.mails(subject="VERIFY")] == \
        ["Verify your boring-app email address"]


async def test_advance_clock_moves_the_app_and_the_backend(localcore_client: LocalcoreClient, clock: ManualClock,
                                                           localcore_backend: Backend,
                                                           advance_clock: Callable[[float], datetime]) -> None:
    assert localcore_client.advance_clock(600) == clock() + timedelta(seconds=600)
    assert advance_clock(60) == clock() + timedelta(seconds=660)  # the fixture moves the same clock
    token = {"x-dev-mailbox-token": TEST_ENV["DEV_MAILBOX_TOKEN"]}
    assert (await localcore_client.call("GET", "/api/dev/clock"))[0] == 404  # needs the mailbox secret
    async with localcore_client.get("/api/dev/clock", headers=token) as response:
        assert (await response.json())["offsetSeconds"] == 660
    ada = await localcore_client.signed_in("ada@example.com")
    assert ada.user is not None
    stored = await localcore_backend.users.get_user(ada.user.id)
    assert stored is not None and stored.created_at == clock() + timedelta(seconds=660)  # stamped by the backend

