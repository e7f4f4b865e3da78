"""``/api/v1/me`` on every backend: the user and their settings, the strict settings body, and account deletion
with the full cascade."""

from __future__ import annotations

from typing import Any

from localcore.auth.tokens import hash_token
from localcore.store import Backend
from localcore.testing.workspace_support import raw_workspaces
from tests.api.auth_support import AuthClient, ClientFactory


async def _user(client: AuthClient, email: str) -> dict[str, Any]:
    user: dict[str, Any] = (await client.sign_up(email, name=email.split("@")[0].title()))["user"]
    return user


async def test_me_needs_a_session(app_client: AuthClient) -> None:
    response = await app_client.http.get("/api/v1/me")
    assert response.status == 401
    body = await response.json()
    assert body["code"] == "unauthorized" and body["message"] == "Authentication required"


async def test_me_returns_the_user_and_derived_settings(app_client: AuthClient) -> None:
    user = await _user(app_client, "ada@example.com")
    response = await app_client.http.get("/api/v1/me")
    assert response.status == 200
    assert await response.json() == {
        "user": {"id": user["id"], "email": "ada@example.com", "name": "Ada", "emailVerified": False,
                 "image": None},
        "settings": {"displayName": "Ada", "email": "ada@example.com", "settings": {}},
    }


async def test_put_settings_updates_the_display_name_and_replaces_the_map(app_client: AuthClient) -> None:
    await _user(app_client, "ada@example.com")
    first = await app_client.http.put("/api/v1/me/settings", json={"displayName": "Updated Name"})
    assert first.status == 200
    assert await first.json() == {"displayName": "Updated Name", "email": "ada@example.com", "settings": {}}
    await app_client.http.put("/api/v1/me/settings", json={"settings": {"theme": "light", "old": 1}})
    second = await app_client.http.put("/api/v1/me/settings", json={"settings": {"theme": "dark", "locale": "en-US"}})
    assert (await second.json())["settings"] == {"theme": "dark", "locale": "en-US"}
    me = await (await app_client.http.get("/api/v1/me")).json()
    assert me["settings"] == {"displayName": "Updated Name", "email": "ada@example.com",
                              "settings": {"theme": "dark", "locale": "en-US"}}


async def test_put_settings_is_strict(app_client: AuthClient) -> None:
    await _user(app_client, "ada@example.com")
    body: object
    for body in ({"email": "x@example.com"}, {"role": "admin"}, {"displayName": None}, {"settings": []},
                 {"settings": None}, {"displayName": 5}, [1, 2]):
        response = await app_client.http.put("/api/v1/me/settings", json=body)
        assert response.status == 400, body
        payload = await response.json()
        assert payload["code"] == "validation_failed", body
    unknown = await app_client.http.put("/api/v1/me/settings", json={"role": "admin"})
    assert (await unknown.json())["message"].startswith(": Unrecognized key(s) in object: 'role'")


async def test_settings_are_per_user(make_client: ClientFactory) -> None:
    ada = await make_client()
    bob = await make_client()
    await _user(ada, "ada@example.com")
    await _user(bob, "bob@example.com")
    await ada.http.put("/api/v1/me/settings", json={"displayName": "Countess"})
    assert (await (await bob.http.get("/api/v1/me")).json())["settings"]["displayName"] == "Bob"


async def test_delete_me_needs_a_session_and_the_exact_email(app_client: AuthClient) -> None:
    assert (await app_client.http.delete("/api/v1/me", json={"confirm": "ada@example.com"})).status == 401
    await _user(app_client, "ada@example.com")
    for body in ({}, {"confirm": "ADA@example.com"}, {"confirm": "bob@example.com"}, None):
        response = await app_client.http.delete("/api/v1/me", json=body)
        assert response.status == 400, body
        payload = await response.json()
        assert payload["code"] == "validation_failed"
        assert payload["message"] == "confirm must match the signed-in email"
    assert (await app_client.http.get("/api/v1/me")).status == 200


async def test_delete_me_removes_the_account_and_clears_the_cookie(app_client: AuthClient) -> None:
    body = await app_client.sign_up()
    user_id = body["user"]["id"]
    cookie = {"Cookie": f"boring-app.session_token={app_client.cookie('boring-app.session_token')}"}
    await app_client.http.put("/api/v1/me/settings", json={"displayName": "Countess"})
    await app_client.backend.metering.grant_once(user_id, "signup_grant", 2_000_000)
    response = await app_client.http.delete("/api/v1/me", json={"confirm": "ada@example.com"})
    assert response.status == 200 and await response.json() == {"deleted": True}
    assert "boring-app.session_token=" in response.headers["Set-Cookie"]
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert (await app_client.http.get("/api/v1/me", headers=cookie)).status == 401
    users = app_client.backend.users
    assert await users.get_user(user_id) is None
    assert await users.get_credential(user_id) is None
    assert await app_client.backend.sessions.get_session(hash_token(body["token"])) is None
    assert await app_client.backend.sessions.list_sessions(user_id) == []
    assert (await users.get_user_settings(user_id, "boring-app")).display_name == ""
    assert await app_client.backend.metering.list_ledger(user_id, 50) == []
    assert (await app_client.backend.metering.get_balance(user_id)).granted_micros == 0
    # The address is free again.
    await app_client.sign_up()


async def _delete(client: AuthClient, email: str) -> None:
    response = await client.http.delete("/api/v1/me", json={"confirm": email})
    assert response.status == 200


async def test_deleting_a_sole_owner_removes_their_unshared_workspace(app_client: AuthClient) -> None:
    user = await _user(app_client, "ada@example.com")
    [workspace] = await app_client.backend.workspaces.list_workspaces(user["id"], "boring-app")
    await _delete(app_client, "ada@example.com")
    assert await app_client.backend.workspaces.get_workspace(workspace.id) is None
    assert await raw_workspaces(app_client.backend).list_members(workspace.id) == []


async def test_deleting_a_co_owner_hands_the_workspace_to_the_other_owner(make_client: ClientFactory,
                                                                          backend: Backend) -> None:
    ada = await make_client()
    bob = await make_client()
    ada_user = await _user(ada, "ada@example.com")
    bob_user = await _user(bob, "bob@example.com")
    shared = await backend.workspaces.create_workspace(user_id=ada_user["id"], name="Shared", app_id="boring-app")
    await backend.workspaces.add_member(shared.id, bob_user["id"], "owner")
    await _delete(ada, "ada@example.com")
    survivor = await backend.workspaces.get_workspace(shared.id)
    assert survivor is not None and survivor.created_by == bob_user["id"]
    assert [(m.user_id, m.role) for m in await raw_workspaces(backend).list_members(shared.id)] == [
        (bob_user["id"], "owner")]


async def test_deleting_a_sole_owner_promotes_the_oldest_editor_and_drops_viewer_only_workspaces(
        make_client: ClientFactory, backend: Backend) -> None:
    clients = {name: await make_client() for name in ("ada", "old", "new", "viewer")}
    users = {name: await _user(c, f"{name}@example.com") for name, c in clients.items()}
    ws = raw_workspaces(backend)
    team = await ws.create_workspace(user_id=users["ada"]["id"], name="Team", app_id="boring-app")
    clock = clients["ada"].clock
    clock.advance(seconds=1)
    await ws.add_member(team.id, users["old"]["id"], "editor")
    clock.advance(seconds=1)
    await ws.add_member(team.id, users["new"]["id"], "editor")
    await ws.add_member(team.id, users["viewer"]["id"], "viewer")
    watched = await ws.create_workspace(user_id=users["ada"]["id"], name="Watched", app_id="boring-app")
    await ws.add_member(watched.id, users["viewer"]["id"], "viewer")

    await _delete(clients["ada"], "ada@example.com")

    kept = await ws.get_workspace(team.id)
    assert kept is not None and kept.created_by == users["old"]["id"]
    roles = {m.user_id: m.role for m in await ws.list_members(team.id)}
    assert roles == {users["old"]["id"]: "owner", users["new"]["id"]: "editor", users["viewer"]["id"]: "viewer"}
    assert await ws.get_workspace(watched.id) is None
    assert await ws.list_members(watched.id) == []
    assert await ws.get_member_role(watched.id, users["viewer"]["id"]) is None
