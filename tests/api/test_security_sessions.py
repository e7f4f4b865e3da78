"""Attack: turn a one-day session into a sliding 30-day one by dropping a cookie (docs/compatibility.md,
"Security hardening").

``rememberMe: false`` ("this is a shared computer") gives a one-day session that never slides, but today
the choice lives only in the ``<app>.dont_remember`` cookie: whoever holds the session cookie without that
one (a stolen cookie, a cookie-editing extension, a client that keeps only the session cookie) gets the
ordinary 30-day sliding session. Fixed: the choice is stored on the session row.
"""

from __future__ import annotations

from datetime import timedelta

from tests.api.auth_support import STRONG_PASSWORD, AuthClient
from tests.api.security_support import drop_cookie

DONT_REMEMBER = "boring-app.dont_remember"
SESSION = "boring-app.session_token"


async def _short_session_without_its_marker(client: AuthClient) -> str:
    """Sign in with ``rememberMe: false``, then keep only the session cookie. Returns the user id."""
    await client.sign_up()
    client.http.session.cookie_jar.clear()
    body = await client.sign_in(rememberMe=False)
    assert client.cookie(DONT_REMEMBER) is not None
    drop_cookie(client, DONT_REMEMBER)
    assert client.cookie(DONT_REMEMBER) is None and client.cookie(SESSION) is not None
    return str(body["user"]["id"])


async def test_dropping_the_dont_remember_cookie_does_not_extend_a_one_day_session(app_client: AuthClient) -> None:
    user_id = await _short_session_without_its_marker(app_client)
    signed_in_at = app_client.clock()
    app_client.clock.advance(hours=23)
    response = await app_client.http.get("/auth/get-session")
    body = await response.json()
    assert body is not None and body["user"]["id"] == user_id  # still valid: used, but not extended
    assert not any(c.startswith(f"{SESSION}=") for c in response.headers.getall("Set-Cookie", []))
    assert (await app_client.http.get("/api/v1/me")).status == 200
    stored = next(s for s in await app_client.backend.sessions.list_sessions(user_id)
                  if s.id == body["session"]["id"])
    assert stored.expires_at == signed_in_at + timedelta(days=1)
    app_client.clock.advance(hours=2)  # 25 hours after sign-in
    assert await app_client.session() is None
    assert (await app_client.http.get("/api/v1/me")).status == 401


async def test_a_short_session_cannot_be_kept_alive_by_frequent_use(app_client: AuthClient) -> None:
    await _short_session_without_its_marker(app_client)
    for _ in range(5):  # busy every 4 hours: an ordinary session would slide past the day
        app_client.clock.advance(hours=4)
        assert (await app_client.http.get("/api/v1/me")).status == 200
    app_client.clock.advance(hours=5)  # 25 hours after sign-in
    assert (await app_client.http.get("/api/v1/me")).status == 401
    # Signing in again (with the right password) is the only way back.
    app_client.http.session.cookie_jar.clear()
    await app_client.sign_in(password=STRONG_PASSWORD)
