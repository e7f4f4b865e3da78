"""Plugins on every backend (memory, SQLite, Postgres): a plugin's routes sit behind core's auth gate,
validation envelope and request id, appear in the OpenAPI document and the capabilities; its hooks run;
a route colliding with a core route is refused at start-up; ``python -m localcore --plugin nope`` stops
with a message naming the plugin; and ``require_role``'s guard matrix (404 / 403 ``not_member`` / 403
``forbidden``) through a plugin route.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from aiohttp import web
from aiohttp.test_utils import TestServer
from pydantic import BaseModel, ConfigDict, Field

from localcore import Plugin, backend_of, clock_of, config_of, create_app, current_user, mailer_of, require_role
from localcore.appkeys import BACKEND, CLOCK, CONFIG, MAILER
from localcore.clock import ManualClock
from localcore.plugins import PluginError, configured_plugins, load_plugin
from localcore.store import Backend
from tests.api.auth_support import AuthClient, ClientFactory, make_config
from tests.api.security_support import run_cli


class NoteIn(BaseModel):
    model_config = ConfigDict(extra="forbid")
    text: str = Field(min_length=1, max_length=200)
    pinned: bool = False


class NoteOut(BaseModel):
    id: str
    text: str
    pinned: bool
    author: str


class RoleOut(BaseModel):
    userId: str
    workspaceId: str
    role: str


def notes_plugin(events: list[str] | None = None) -> Plugin:
    """A small plugin: a gated JSON route with a body model, a role-checked one and a public one."""
    plugin = Plugin("notes", capabilities={"enabled": True, "maxLength": 200})
    log = events if events is not None else []

    @plugin.post("/api/v1/notes", body=NoteIn, response=NoteOut, summary="Add a note", status=201)
    async def add_note(request: web.Request, body: NoteIn) -> NoteOut:
        user = await current_user(request)
        assert user is not None
        return NoteOut(id="n1", text=body.text, pinned=body.pinned, author=user.email)

    @plugin.get("/api/v1/notes", response=list[NoteOut], summary="List notes")
    async def list_notes(request: web.Request) -> list[dict[str, Any]]:
        return []

    @plugin.get("/api/v1/workspaces/{id}/notes/role", response=RoleOut, summary="The caller's role (editor)")
    async def role(request: web.Request) -> RoleOut:
        wanted = request.query.get("min", "viewer")
        member = await require_role(request, request.match_info["id"], wanted)
        return RoleOut(userId=member.user_id, workspaceId=member.workspace_id, role=member.role)

    @plugin.get("/api/notes/public", auth=False, summary="Public notes status")
    async def public(request: web.Request) -> web.Response:
        same = (backend_of(request) is request.app[BACKEND] and config_of(request) is request.app[CONFIG]
                and mailer_of(request) is request.app[MAILER] and clock_of(request) is request.app[CLOCK])
        return web.json_response({"ok": True, "accessors": same})

    @plugin.on_startup
    async def started(app: web.Application) -> None:
        log.append("startup")

    @plugin.on_cleanup
    async def stopped(app: web.Application) -> None:
        log.append("cleanup")

    @plugin.setup
    def raw(app: web.Application) -> None:
        log.append("setup")

        async def raw_route(request: web.Request) -> web.Response:
            return web.json_response({"raw": True})

        app.router.add_get("/api/notes/raw", raw_route)

    return plugin


#: What ``load_plugin("tests.api.test_plugins")`` finds (the default attribute).
plugin = notes_plugin()


async def _client(make_client: ClientFactory, *plugins: Plugin) -> AuthClient:
    return await make_client(plugins=list(plugins) or [notes_plugin()])


async def test_a_plugin_route_is_behind_the_auth_gate(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    response = await client.http.get("/api/v1/notes")
    assert response.status == 401
    body = await response.json()
    assert body["code"] == "unauthorized" and body["error"] == "Authentication required"
    assert body["requestId"] == response.headers["x-request-id"]
    assert response.headers["Cache-Control"] == "no-store"
    posted = await client.http.post("/api/v1/notes", json={"text": "hi"})
    assert posted.status == 401

    await client.sign_up("ada@example.com")
    listed = await client.http.get("/api/v1/notes")
    assert listed.status == 200 and await listed.json() == []
    assert listed.headers["x-request-id"]
    created = await client.http.post("/api/v1/notes", json={"text": "hello", "pinned": True})
    assert created.status == 201
    assert await created.json() == {"id": "n1", "text": "hello", "pinned": True, "author": "ada@example.com"}


async def test_a_plugin_body_is_validated_with_the_core_envelope(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    await client.sign_up("ada@example.com")
    for payload, message in (({}, "text: Field required"),
                             ({"text": ""}, "text: String should have at least 1 character"),
                             ({"text": "x", "admin": True}, ": Unrecognized key(s) in object: 'admin'")):
        response = await client.http.post("/api/v1/notes", json=payload)
        assert response.status == 400, payload
        body = await response.json()
        assert body["code"] == "validation_failed" and body["message"] == message, body
        assert body["requestId"] == response.headers["x-request-id"]
    broken = await client.http.post("/api/v1/notes", data=b"{not json", headers={"Content-Type": "application/json"})
    assert broken.status == 400 and (await broken.json())["code"] == "invalid_json"


async def test_plugin_writes_get_the_origin_check(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    await client.sign_up("ada@example.com")
    response = await client.http.post("/api/v1/notes", json={"text": "x"}, headers={"Origin": "https://evil.example"})
    assert response.status == 403
    assert (await response.json())["code"] == "invalid_origin"


async def test_public_plugin_routes_the_escape_hatch_and_the_accessors(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    response = await client.http.get("/api/notes/public")
    assert response.status == 200 and await response.json() == {"ok": True, "accessors": True}
    raw = await client.http.get("/api/notes/raw")
    assert raw.status == 200 and await raw.json() == {"raw": True}


async def test_the_openapi_document_lists_plugin_routes_with_their_schemas(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    document = await (await client.http.get("/api/openapi.json")).json()
    post = document["paths"]["/api/v1/notes"]["post"]
    assert post["summary"] == "Add a note" and post["tags"] == ["notes"]
    assert post["security"] == [{"sessionCookie": []}]
    assert {"201", "400", "401"} <= set(post["responses"])
    text = str(post["requestBody"]) + str(post["responses"]["201"]) + str(document.get("components", {}))
    assert "NoteIn" in text and "NoteOut" in text
    assert "get" in document["paths"]["/api/v1/notes"]
    assert "/api/v1/workspaces/{id}/notes/role" in document["paths"]
    assert "security" not in document["paths"]["/api/notes/public"]["get"]


async def test_capabilities_show_the_plugin_under_its_name(make_client: ClientFactory) -> None:
    client = await _client(make_client)
    await client.sign_up("ada@example.com")
    capabilities = await (await client.http.get("/api/v1/capabilities")).json()
    assert capabilities["notes"] == {"enabled": True, "maxLength": 200}
    assert "core" in capabilities and "credits" in capabilities


async def test_startup_and_cleanup_hooks_run(backend: Backend, clock: ManualClock) -> None:
    events: list[str] = []
    app = create_app(make_config(), backend, clock=clock, plugins=[notes_plugin(events)])
    assert events == ["setup"]
    server = TestServer(app)
    await server.start_server()
    assert events == ["setup", "startup"]
    await server.close()
    assert events == ["setup", "startup", "cleanup"]


@pytest.mark.parametrize(("method", "path", "clash"), [
    ("GET", "/api/v1/capabilities", "/api/v1/capabilities"),
    ("GET", "/api/v1/workspaces/{workspaceId}", "/api/v1/workspaces/{id}"),
    ("POST", "/auth/sign-in/email", "/auth/sign-in/email"),
    ("GET", "/api/v1/workspaces/mine", "/api/v1/workspaces/{id}"),
])
async def test_a_route_colliding_with_a_core_route_is_refused(backend: Backend, clock: ManualClock, method: str,
                                                              path: str, clash: str) -> None:
    plugin = Plugin("clash")

    @plugin.route(method, path)
    async def handler(request: web.Request) -> dict[str, Any]:
        return {}

    with pytest.raises(PluginError) as refused:
        create_app(make_config(), backend, clock=clock, plugins=[plugin])
    assert f"plugin 'clash': {method} {path} collides with the existing route {method} {clash}" in str(refused.value)


async def test_two_plugins_cannot_share_a_route_or_a_name(backend: Backend, clock: ManualClock) -> None:
    with pytest.raises(PluginError, match="two plugins are named 'notes'"):
        create_app(make_config(), backend, clock=clock, plugins=[notes_plugin(), notes_plugin()])
    other = Plugin("other")

    @other.get("/api/v1/notes")
    async def handler(request: web.Request) -> dict[str, Any]:
        return {}

    with pytest.raises(PluginError, match="collides with the existing route GET /api/v1/notes"):
        create_app(make_config(), backend, clock=clock, plugins=[notes_plugin(), other])
    with pytest.raises(PluginError, match="reserved by core"):
        create_app(make_config(), backend, clock=clock, plugins=[Plugin("credits")])


async def test_bad_declarations_are_refused(backend: Backend, clock: ManualClock) -> None:
    for name in ("", "9lives", "has space", "x" * 65):
        with pytest.raises(PluginError, match="plugin name"):
            Plugin(name)
    bad = Plugin("bad")
    with pytest.raises(PluginError, match="unsupported method 'OPTIONS'"):
        bad.route("OPTIONS", "/api/bad")
    with pytest.raises(PluginError, match="must start with '/'"):
        bad.get("api/bad")
    with pytest.raises(PluginError, match="body must be a pydantic model class"):
        bad.post("/api/bad", body=dict)  # type: ignore[arg-type]

    def sync_handler(request: web.Request) -> dict[str, Any]:
        return {}

    bad.get("/api/bad")(sync_handler)  # type: ignore[type-var]
    with pytest.raises(PluginError, match="the handler must be an async function"):
        create_app(make_config(), backend, clock=clock, plugins=[bad])
    no_body = Plugin("no_body")

    @no_body.post("/api/no-body", body=NoteIn)
    async def handler(request: web.Request, note: NoteIn) -> dict[str, Any]:
        return {}

    with pytest.raises(PluginError, match=r"so the handler takes \(request, body\)"):
        create_app(make_config(), backend, clock=clock, plugins=[no_body])


async def test_auth_false_is_refused_under_the_session_gate(backend: Backend, clock: ManualClock) -> None:
    plugin = Plugin("open")

    @plugin.get("/api/v1/open", auth=False)
    async def handler(request: web.Request) -> dict[str, Any]:
        return {}

    with pytest.raises(PluginError, match="every route under /api/v1/ needs a session"):
        create_app(make_config(), backend, clock=clock, plugins=[plugin])


async def test_require_role_guards_like_core(make_client: ClientFactory, backend: Backend) -> None:
    client = await _client(make_client)
    owner = (await client.sign_up("owner@example.com"))["user"]
    workspaces = await (await client.http.get("/api/v1/workspaces")).json()
    workspace_id = workspaces["workspaces"][0]["id"]
    mine = await client.http.get(f"/api/v1/workspaces/{workspace_id}/notes/role?min=owner")
    assert await mine.json() == {"userId": owner["id"], "workspaceId": workspace_id, "role": "owner"}
    await client.sign_out()
    bob = (await client.sign_up("bob@example.com"))["user"]

    async def role(workspace: str, minimum: str = "viewer") -> tuple[int, dict[str, Any]]:
        response = await client.http.get(f"/api/v1/workspaces/{workspace}/notes/role?min={minimum}")
        body: dict[str, Any] = await response.json()
        return response.status, body

    status, body = await role("not%20a%20workspace!")
    assert (status, body["code"]) == (404, "not_found")
    status, body = await role("00000000-0000-4000-8000-000000000000")
    assert (status, body["code"], body["message"]) == (404, "not_found", "Workspace not found")
    status, body = await role(workspace_id)
    assert (status, body["code"]) == (403, "not_member")
    await backend.workspaces.add_member(workspace_id, bob["id"], "viewer")
    status, body = await role(workspace_id, "editor")
    assert (status, body["code"], body["message"]) == (403, "forbidden", "Requires editor role or higher")
    status, body = await role(workspace_id, "viewer")
    assert (status, body) == (200, {"userId": bob["id"], "workspaceId": workspace_id, "role": "viewer"})
    await client.sign_out()
    status, body = await role(workspace_id)
    assert (status, body["code"]) == (401, "unauthorized")


async def test_a_plugin_route_can_be_rate_limited_like_a_core_route(make_client: ClientFactory) -> None:
    limited = Plugin("limited")

    @limited.post("/api/v1/limited", rate_limit=(2, "1 minute"), summary="Twice a minute")
    async def handler(request: web.Request) -> dict[str, bool]:
        return {"ok": True}

    client = await make_client(config=make_config(LOCALCORE_RATE_LIMITS="on"), plugins=[limited])
    await client.sign_up("ada@example.com")
    statuses = [(await client.http.post("/api/v1/limited", json={})).status for _ in range(2)]
    refused = await client.http.post("/api/v1/limited", json={})
    assert statuses == [200, 200] and refused.status == 429
    assert (await refused.json())["code"] == "rate_limited" and int(refused.headers["Retry-After"]) > 0
    document = await (await client.http.get("/api/openapi.json")).json()
    assert "429" in document["paths"]["/api/v1/limited"]["post"]["responses"]
    with pytest.raises(PluginError, match="rate_limit must be"):
        limited.post("/api/v1/other", rate_limit=(0, "1 minute"))


# ----------------------------------------------------------------------------- loading


def test_specs_name_a_module_and_an_attribute() -> None:
    assert load_plugin("tests.api.test_plugins").name == "notes"
    assert load_plugin("tests.api.test_plugins:notes_plugin").name == "notes"  # a factory
    with pytest.raises(PluginError, match=r"plugin 'nope': cannot import module 'nope'"):
        load_plugin("nope")
    with pytest.raises(PluginError, match="has no attribute 'missing'"):
        load_plugin("tests.api.test_plugins:missing")
    with pytest.raises(PluginError, match=r"is not a localcore\.Plugin"):
        load_plugin("tests.api.test_plugins:NoteIn")
    once = configured_plugins(["tests.api.test_plugins", "tests.api.test_plugins:plugin"], entry_points=False)
    assert len(once) == 1


def test_installed_plugins_come_from_the_entry_point_group(monkeypatch: pytest.MonkeyPatch) -> None:
    import importlib.metadata

    from localcore.plugins import ENTRY_POINT_GROUP

    entry = importlib.metadata.EntryPoint("notes", "tests.api.test_plugins:plugin", ENTRY_POINT_GROUP)
    broken = importlib.metadata.EntryPoint("broken", "nope_not_installed:plugin", ENTRY_POINT_GROUP)
    found: list[importlib.metadata.EntryPoint] = [entry]

    def entry_points(*, group: str) -> list[importlib.metadata.EntryPoint]:
        assert group == "localcore.plugins"
        return found

    monkeypatch.setattr(importlib.metadata, "entry_points", entry_points)
    assert [p.name for p in configured_plugins(["tests.api.test_plugins"])] == ["notes"]  # found twice, once
    found.append(broken)
    with pytest.raises(PluginError, match=r"plugin 'broken' \(entry point 'nope_not_installed:plugin'\)"):
        configured_plugins()


def test_plugins_are_configured_from_toml_and_the_environment(tmp_path: Path) -> None:
    from localcore import load_config
    from localcore.errors import ConfigError
    from tests.api.auth_support import BASE_ENV

    toml = tmp_path / "boring.app.toml"
    toml.write_text('[plugins]\nload = ["notes", "billing:plugin"]\n')
    config = load_config(toml, {**BASE_ENV, "LOCALCORE_PLUGINS": "extra:make, notes"})
    assert config.plugins == ("notes", "billing:plugin", "extra:make")
    toml.write_text('[plugins]\nload = "notes"\n')
    with pytest.raises(ConfigError, match=r"plugins\.load"):
        load_config(toml, BASE_ENV)


def test_an_unknown_plugin_stops_the_start(tmp_path: Path) -> None:
    result = run_cli("--plugin", "nope", "--database-url", "memory://", "--data-dir", str(tmp_path / "data"),
                     "--port", "0", "--no-bootstrap", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result
    assert "plugin 'nope': cannot import module 'nope'" in result.stderr
    assert "listening" not in result.stdout


def test_a_colliding_plugin_stops_the_start(tmp_path: Path) -> None:
    (tmp_path / "clashing.py").write_text(
        "from localcore import Plugin\n"
        "plugin = Plugin('clashing')\n"
        "@plugin.get('/health')\n"
        "async def health(request):\n"
        "    return {}\n")
    result = run_cli("--plugin", "clashing", "--database-url", "memory://", "--data-dir", str(tmp_path / "data"),
                     "--port", "0", "--no-bootstrap", cwd=tmp_path, timeout=60)
    assert result.returncode == 2, result
    assert "plugin 'clashing': GET /health collides with the existing route GET /health" in result.stderr
