"""Sessions over HTTP: TTL, daily sliding refresh, revocation visible to every process, session management
(better-auth's rules: docs/compatibility.md, "Cookies and sessions"). Time moves with the ManualClock; nothing
sleeps."""

from __future__ import annotations

import asyncio
import contextlib

from localcore.auth.tokens import hash_token
from localcore.store import Backend
from tests.api.auth_support import STRONG_PASSWORD, AuthClient, ClientFactory, make_config


async def _expiry_of(client: AuthClient) -> str:
    return str((await client.session())["session"]["expiresAt"])


async def test_session_expires_after_the_ttl(app_client: AuthClient) -> None:
    await app_client.sign_up()
    app_client.clock.advance(days=30, seconds=-1)
    assert (await app_client.http.get("/api/v1/me", params={"disableRefresh": "true"})).status == 200
    app_client.clock.advance(seconds=1)
    response = await app_client.http.get("/auth/get-session")
    assert await response.json() is None
    assert "Max-Age=0" in response.headers["Set-Cookie"]  # the dead cookie is cleared
    assert (await app_client.http.get("/api/v1/me")).status == 401


async def test_sliding_refresh_happens_at_most_once_a_day(app_client: AuthClient) -> None:
    await app_client.sign_up()
    assert await _expiry_of(app_client) == "2026-01-31T12:00:00.000Z"
    app_client.clock.advance(hours=23)
    response = await app_client.http.get("/auth/get-session")
    assert "Set-Cookie" not in response.headers
    assert (await response.json())["session"]["expiresAt"] == "2026-01-31T12:00:00.000Z"
    app_client.clock.advance(hours=2)  # 25 h after sign-in
    response = await app_client.http.get("/auth/get-session")
    cookie = response.headers["Set-Cookie"]
    assert cookie.startswith("boring-app.session_token=") and "Max-Age=2592000" in cookie
    assert (await response.json())["session"]["expiresAt"] == "2026-02-01T13:00:00.000Z"
    # Any authenticated request slides it, e.g. /api/v1/me: active users stay signed in.
    for _ in range(40):
        app_client.clock.advance(days=1, minutes=1)
        assert (await app_client.http.get("/api/v1/me")).status == 200


async def test_disable_refresh_leaves_the_session_alone(app_client: AuthClient) -> None:
    await app_client.sign_up()
    app_client.clock.advance(days=2)
    response = await app_client.http.get("/auth/get-session", params={"disableRefresh": "true"})
    assert "Set-Cookie" not in response.headers
    assert (await response.json())["session"]["expiresAt"] == "2026-01-31T12:00:00.000Z"


async def test_a_not_remembered_session_lasts_one_day_and_never_slides(app_client: AuthClient) -> None:
    await app_client.sign_up()
    app_client.http.session.cookie_jar.clear()
    await app_client.sign_in(rememberMe=False)
    app_client.clock.advance(hours=23)
    response = await app_client.http.get("/auth/get-session")
    assert "Set-Cookie" not in response.headers
    app_client.clock.advance(hours=1)
    assert await app_client.session() is None


async def test_sign_out_on_one_process_signs_out_on_another(make_client: ClientFactory,
                                                            second_backend: Backend) -> None:
    first = await make_client()
    second = await make_client(backend_=second_backend)
    body = await first.sign_up()
    cookie = {"Cookie": f"boring-app.session_token={first.cookie('boring-app.session_token')}"}
    assert (await second.http.get("/api/v1/me", headers=cookie)).status == 200
    await first.sign_out()
    assert (await second.http.get("/api/v1/me", headers=cookie)).status == 401
    assert await second.backend.sessions.get_session(hash_token(body["token"])) is None


async def test_revoke_other_sessions_keeps_only_the_current_one(make_client: ClientFactory) -> None:
    laptop = await make_client()
    phone = await make_client()
    await laptop.sign_up()
    phone_token = (await phone.sign_in())["token"]
    sessions = await (await laptop.http.get("/auth/list-sessions")).json()
    # Another device's session is listed by its handle (the id), never by its secret token.
    assert len(sessions) == 2 and all(s["token"] for s in sessions)
    assert phone_token not in str(sessions)
    assert any(s["token"] == s["id"] for s in sessions)
    response = await laptop.http.post("/auth/revoke-other-sessions", json={})
    assert await response.json() == {"status": True}
    assert await phone.session() is None
    assert (await laptop.session())["user"]["email"] == "ada@example.com"
    assert len(await (await laptop.http.get("/auth/list-sessions")).json()) == 1


async def test_revoke_session_by_id_and_by_token(make_client: ClientFactory) -> None:
    laptop = await make_client()
    phone = await make_client()
    tablet = await make_client()
    await laptop.sign_up()
    phone_token = (await phone.sign_in())["token"]
    await tablet.sign_in()
    tablet_id = (await tablet.session())["session"]["id"]
    assert (await laptop.http.post("/auth/revoke-session", json={"token": tablet_id})).status == 200
    assert await tablet.session() is None
    assert (await laptop.http.post("/auth/revoke-session", json={"token": phone_token})).status == 200
    assert await phone.session() is None
    assert await laptop.session() is not None


async def test_revoking_the_current_session_clears_the_cookie(app_client: AuthClient) -> None:
    await app_client.sign_up()
    current = (await app_client.session())["session"]["id"]
    response = await app_client.http.post("/auth/revoke-session", json={"token": current})
    assert response.status == 200 and "Max-Age=0" in response.headers["Set-Cookie"]
    assert await app_client.session() is None


async def test_someone_elses_session_cannot_be_revoked(make_client: ClientFactory) -> None:
    ada = await make_client()
    bob = await make_client()
    await ada.sign_up()
    await bob.sign_up("bob@example.com")
    bob_session = (await bob.session())["session"]["id"]
    assert (await ada.http.post("/auth/revoke-session", json={"token": bob_session})).status == 200
    assert await bob.session() is not None


async def test_revoke_sessions_signs_out_everywhere(make_client: ClientFactory) -> None:
    laptop = await make_client()
    phone = await make_client()
    await laptop.sign_up()
    await phone.sign_in()
    response = await laptop.http.post("/auth/revoke-sessions", json={})
    assert await response.json() == {"status": True}
    assert "Max-Age=0" in response.headers["Set-Cookie"]
    assert await laptop.session() is None and await phone.session() is None


async def test_session_management_requires_a_session(app_client: AuthClient) -> None:
    for method, path in (("GET", "/auth/list-sessions"), ("POST", "/auth/revoke-session"),
                         ("POST", "/auth/revoke-sessions"), ("POST", "/auth/revoke-other-sessions"),
                         ("POST", "/auth/change-password"), ("POST", "/auth/update-user")):
        response = await app_client.http.request(method, path, json={"token": "x"})
        assert response.status == 401, path
        assert (await response.json())["code"] == "UNAUTHORIZED"


async def test_expired_sessions_are_not_listed(make_client: ClientFactory) -> None:
    main = await make_client()
    short = await make_client()
    await main.sign_up()
    await short.sign_in(rememberMe=False)
    main.clock.advance(days=1, seconds=1)
    sessions = await (await main.http.get("/auth/list-sessions")).json()
    assert len(sessions) == 1


async def test_concurrent_sign_ins_each_get_their_own_session(app_client: AuthClient,
                                                              make_client: ClientFactory) -> None:
    await app_client.sign_up()
    clients = [await make_client() for _ in range(4)]
    results = await asyncio.gather(*(c.sign_in("ada@example.com", STRONG_PASSWORD) for c in clients))
    assert len({r["token"] for r in results}) == 4
    user_id = results[0]["user"]["id"]
    assert len(await app_client.backend.sessions.list_sessions(user_id)) == 5


async def test_cookie_carrying_writes_from_a_foreign_origin_are_refused(app_client: AuthClient) -> None:
    await app_client.sign_up()
    response = await app_client.http.post("/auth/revoke-sessions", json={},
                                          headers={"Origin": "https://evil.example.net"})
    assert response.status == 403
    assert (await response.json())["code"] == "INVALID_ORIGIN"
    assert await app_client.session() is not None
    allowed = await app_client.http.post("/auth/revoke-other-sessions", json={},
                                         headers={"Origin": "https://app.example.com"})
    assert allowed.status == 200


async def test_session_ttl_is_configurable(make_client: ClientFactory) -> None:
    client = await make_client(make_config(SESSION_TTL_SECONDS="3600"))
    response = await client.http.post("/auth/sign-up/email", json={
        "name": "A", "email": "ada@example.com", "password": STRONG_PASSWORD})
    assert "Max-Age=3600" in response.headers["Set-Cookie"]
    assert await _expiry_of(client) == "2026-01-01T13:00:00.000Z"


async def test_expired_sessions_and_tokens_are_swept_in_the_background(app_client: AuthClient) -> None:
    from localcore.auth import _sweep_expired
    from localcore.auth.sessions import SessionManager

    user = (await app_client.sign_up())["user"]
    tokens = app_client.backend.tokens
    await tokens.put_token(kind="magic-link", token_hash="f" * 64, data={}, expires_at=app_client.clock())
    app_client.clock.advance(days=31)
    manager = SessionManager(app_client.backend.sessions, app_client.clock, 2_592_000)
    sweeper = asyncio.create_task(_sweep_expired(manager, tokens, interval=0.01))
    try:
        for _ in range(200):
            if (not await app_client.backend.sessions.list_sessions(user["id"])
                    and await tokens.get_token("magic-link", "f" * 64) is None):
                break
            await asyncio.sleep(0.01)
    finally:
        sweeper.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await sweeper
    assert await app_client.backend.sessions.list_sessions(user["id"]) == []
    assert await tokens.get_token("magic-link", "f" * 64) is None
