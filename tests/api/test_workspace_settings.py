"""Encrypted workspace settings (metadata only over HTTP, AES-256-GCM at rest, rotatable keys) over HTTP on every
backend, the cipher itself, and the ``rotate-settings-key`` command on a SQLite file."""

from __future__ import annotations

import argparse
import json
from pathlib import Path

import pytest

from backends import open_backend
from localcore import load_config
from localcore.clock import ManualClock
from localcore.store import Backend
from localcore.workspaces import WORKSPACES
from localcore.workspaces import models as m
from localcore.workspaces.cli import COMMAND, run
from localcore.workspaces.crypto import SettingsCipher
from localcore.workspaces.settings import SettingsService
from tests.api.auth_support import BASE_ENV
from tests.api.workspace_fixtures import AiohttpClient, Harness, open_harness

OLD_KEY = "old-secret-" + "o" * 40
NEW_KEY = "new-secret-" + "n" * 40


@pytest.fixture
async def h(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Harness:
    return await open_harness(aiohttp_client, backend, clock)


def settings_path(workspace: str) -> str:
    return f"/api/v1/workspaces/{workspace}/settings"


async def test_editors_delete_one_setting_and_viewers_cannot(h: Harness) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob, viewer=cy)
    assert (await ada.call("PUT", settings_path(workspace), {"A_KEY": "one", "B_KEY": "two"}))[0] == 200
    status, refused = await cy.call("DELETE", f"{settings_path(workspace)}/A_KEY")
    assert (status, refused["code"]) == (403, "forbidden")
    assert await bob.call("DELETE", f"{settings_path(workspace)}/A_KEY") == (200, {"deleted": True})
    status, missing = await bob.call("DELETE", f"{settings_path(workspace)}/A_KEY")
    assert (status, missing["code"], missing["message"]) == (404, "not_found", "Setting not found")
    keys = [s["key"] for s in (await cy.call("GET", settings_path(workspace)))[1]["settings"]]
    assert keys == ["B_KEY"]


async def test_members_read_metadata_and_editors_write(h: Harness, clock: ManualClock) -> None:
    ada, bob, cy = (await h.person("ada@example.com"), await h.person("bob@example.com"),
                    await h.person("cy@example.com"))
    workspace = await h.team(ada, editor=bob, viewer=cy)
    assert await cy.call("GET", settings_path(workspace)) == (200, {"settings": []})
    status, body = await bob.call("PUT", settings_path(workspace), {"github_token": "secret-value", "A": "x"})
    assert status == 200
    m.SettingsOut.model_validate(body)
    stamp = clock().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert body == {"settings": [{"key": "A", "configured": True, "updated_at": stamp},
                                 {"key": "github_token", "configured": True, "updated_at": stamp}]}
    assert (await cy.call("GET", settings_path(workspace)))[1] == body
    status, answer = await cy.call("PUT", settings_path(workspace), {"github_token": "mine"})
    assert (status, answer["code"], answer["message"]) == (403, "forbidden", "Requires editor role or higher")
    outsider = await h.person("dan@example.com")
    assert (await outsider.call("GET", settings_path(workspace)))[1]["code"] == "not_member"
    assert "secret-value" not in json.dumps([await ada.call("GET", settings_path(workspace)),
                                             await ada.call("GET", f"/api/v1/workspaces/{workspace}")])


async def test_writes_are_validated(h: Harness) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    cases = [
        ({}, "At least one setting is required"),
        ({f"k{i}": "v" for i in range(51)}, "Maximum 50 settings per request"),
        ({"k" * 129: "v"}, "Key must be 128 characters or fewer"),
        ({"token": ""}, "token: Value must not be empty"),
        ({"token": "v" * 10_001}, "token: Value must be 10000 characters or fewer"),
        ({"token": 5}, "token: Input should be a valid string"),
        ({"token": None}, "token: Input should be a valid string"),
        ([["token", "v"]], "Input should be a valid dictionary"),
    ]
    for body, message in cases:
        status, answer = await ada.call("PUT", settings_path(workspace), body)
        assert (status, answer["code"], answer["message"]) == (400, "validation_failed", message), message
    assert (await ada.call("PUT", settings_path(workspace), {f"k{i}": "v" for i in range(50)}))[0] == 200
    assert (await ada.call("PUT", settings_path(workspace), {"k" * 128: "v" * 10_000}))[0] == 200


async def test_values_are_sealed_with_a_fresh_nonce_each_time(h: Harness, clock: ManualClock) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    await ada.call("PUT", settings_path(workspace), {"github_token": "secret-value"})
    first = await h.backend.workspaces.get_workspace_setting(workspace, "github_token")
    clock.advance(seconds=10)
    status, body = await ada.call("PUT", settings_path(workspace), {"github_token": "secret-value"})
    assert status == 200
    second = await h.backend.workspaces.get_workspace_setting(workspace, "github_token")
    assert first is not None and second is not None
    assert b"secret-value" not in first.value and first.value != second.value
    assert first.key_id == second.key_id == h.app[WORKSPACES].settings.cipher.key_id
    assert body["settings"][0]["updated_at"] == clock().strftime("%Y-%m-%dT%H:%M:%S.000Z")
    assert await h.app[WORKSPACES].settings.decrypt(workspace, "github_token") == "secret-value"
    assert await h.app[WORKSPACES].settings.decrypt(workspace, "missing") is None


async def test_a_server_with_another_key_sees_configured_false(
        h: Harness, aiohttp_client: AiohttpClient, second_backend: Backend, clock: ManualClock) -> None:
    ada = await h.person("ada@example.com")
    workspace = await ada.default_workspace()
    await ada.call("PUT", settings_path(workspace), {"github_token": "secret-value"})
    other = await open_harness(aiohttp_client, second_backend, clock,
                               config=load_config(env={**BASE_ENV, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": NEW_KEY}))
    there = await other.anonymous()
    await there.sign_in("ada@example.com", "Zk8$mN!qR2xFgWpJ")
    response = await there.http.get(settings_path(workspace))
    assert (await response.json())["settings"][0]["configured"] is False
    assert await other.app[WORKSPACES].settings.decrypt(workspace, "github_token") is None


async def test_a_value_is_bound_to_its_workspace_and_key_name(h: Harness) -> None:
    ada, bob = await h.person("ada@example.com"), await h.person("bob@example.com")
    adas, bobs = await ada.default_workspace(), await bob.default_workspace()
    await ada.call("PUT", settings_path(adas), {"github_token": "secret-value"})
    stolen = await h.backend.workspaces.get_workspace_setting(adas, "github_token")
    assert stolen is not None
    await h.backend.workspaces.put_workspace_settings(bobs, {"github_token": (stolen.value, stolen.key_id)})
    await h.backend.workspaces.put_workspace_settings(adas, {"renamed": (stolen.value, stolen.key_id)})
    assert (await bob.call("GET", settings_path(bobs)))[1]["settings"][0]["configured"] is False
    configured = {s["key"]: s["configured"] for s in (await ada.call("GET", settings_path(adas)))[1]["settings"]}
    assert configured == {"github_token": True, "renamed": False}


# --------------------------------------------------------------------------- the cipher


def test_the_cipher_round_trips_and_refuses_tampering() -> None:
    cipher = SettingsCipher(OLD_KEY)
    blob, key_id = cipher.seal("ws", "name", "välue ✓")
    assert cipher.open("ws", "name", blob, key_id) == "välue ✓"
    assert key_id == SettingsCipher(OLD_KEY).key_id != SettingsCipher(NEW_KEY).key_id
    assert OLD_KEY not in key_id and len(key_id) == 16
    tampered = blob[:-1] + bytes([blob[-1] ^ 1])
    assert cipher.open("ws", "name", tampered, key_id) is None
    assert cipher.open("other", "name", blob, key_id) is None
    assert cipher.open("ws", "other", blob, key_id) is None
    assert cipher.open("ws", "name", blob[:12], key_id) is None
    assert SettingsCipher(NEW_KEY).open("ws", "name", blob, key_id) is None
    with pytest.raises(ValueError):
        SettingsCipher("")


def test_previous_keys_open_old_values_and_new_values_use_the_current_key() -> None:
    old = SettingsCipher(OLD_KEY)
    blob, old_id = old.seal("ws", "k", "v")
    rotated = SettingsCipher(NEW_KEY, [OLD_KEY])
    assert rotated.open("ws", "k", blob, old_id) == "v"
    assert rotated.open("ws", "k", blob, "unknown-id") == "v"  # an unknown id tries every key
    new_blob, new_id = rotated.seal("ws", "k", "v")
    assert new_id == rotated.key_id == SettingsCipher(NEW_KEY).key_id != old_id
    assert old.open("ws", "k", new_blob, new_id) is None


# --------------------------------------------------------------------------- rotate-settings-key


def _args(**values: object) -> argparse.Namespace:
    parser = argparse.ArgumentParser()
    COMMAND[0](parser)
    args = parser.parse_args([])
    for name, value in values.items():
        setattr(args, name, value)
    return args


async def test_the_rotation_command_re_encrypts_everything(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    async with await open_backend(url) as backend:
        ada = await backend.users.create_user(email="ada@example.com")
        one = await backend.workspaces.create_workspace(user_id=ada.id, name="One", app_id="app")
        two = await backend.workspaces.create_workspace(user_id=ada.id, name="Two", app_id="app")
        old = SettingsService(backend.workspaces, SettingsCipher(OLD_KEY))
        await old.put(one.id, {"a": "alpha", "b": "beta"})
        await old.put(two.id, {"c": "gamma"})
    config = load_config(env={**BASE_ENV, "DATABASE_URL": url, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": NEW_KEY,
                              "WORKSPACE_SETTINGS_PREVIOUS_KEYS": f"unrelated-key, {OLD_KEY}"})

    assert await run(_args(dry_run=True), config) == 0
    assert "would re-encrypt 3" in capsys.readouterr().out
    assert await run(_args(), config) == 0
    assert "re-encrypted 3" in capsys.readouterr().out
    assert await run(_args(), config) == 0
    out = capsys.readouterr().out
    assert "re-encrypted 0" in out and "3 already current" in out

    async with await open_backend(url) as backend:
        rows = await backend.workspaces.list_all_workspace_settings()
        assert {r.key_id for r in rows} == {SettingsCipher(NEW_KEY).key_id}
        only_new = SettingsService(backend.workspaces, SettingsCipher(NEW_KEY))
        assert [(s.key, s.configured) for s in await only_new.metadata(one.id)] == [("a", True), ("b", True)]
        assert await only_new.decrypt(one.id, "b") == "beta"
        assert await only_new.decrypt(two.id, "c") == "gamma"


async def test_values_no_key_opens_are_reported_and_left_alone(tmp_path: Path,
                                                                capsys: pytest.CaptureFixture[str]) -> None:
    url = f"sqlite:///{tmp_path / 'rotate.db'}"
    async with await open_backend(url) as backend:
        ada = await backend.users.create_user(email="ada@example.com")
        workspace = await backend.workspaces.create_workspace(user_id=ada.id, name="W", app_id="app")
        await SettingsService(backend.workspaces, SettingsCipher("lost-key")).put(workspace.id, {"lost": "x"})
        await SettingsService(backend.workspaces, SettingsCipher(OLD_KEY)).put(workspace.id, {"kept": "y"})
        lost_before = await backend.workspaces.get_workspace_setting(workspace.id, "lost")
    config = load_config(env={**BASE_ENV, "DATABASE_URL": url, "WORKSPACE_SETTINGS_ENCRYPTION_KEY": NEW_KEY,
                              "WORKSPACE_SETTINGS_PREVIOUS_KEYS": OLD_KEY})
    assert await run(_args(), config) == 1
    out = capsys.readouterr().out
    assert "re-encrypted 1" in out and "1 not decryptable" in out
    async with await open_backend(url) as backend:
        assert await backend.workspaces.get_workspace_setting(workspace.id, "lost") == lost_before
        kept = await backend.workspaces.get_workspace_setting(workspace.id, "kept")
        assert kept is not None and kept.key_id == SettingsCipher(NEW_KEY).key_id
