"""No password, token, cookie or secret in the logs (docs/compatibility.md, fixes 2 and 12).

Every log record of a full flow — sign-up, verification, sign-out, reset, sign-in, magic link, Google
sign-in, password change, account deletion — is captured at DEBUG (including the database driver's own
debug logs) and searched for every secret value the flow handled. The access log is checked as the
production handler writes it (``localcore.logs.RedactingFilter``: the reset link carries its token in the
path); every other record must be clean as emitted.
"""

from __future__ import annotations

import logging
from pathlib import Path
from urllib.parse import parse_qs, urlsplit

import pytest
from aiohttp.test_utils import TestServer

from localcore.logs import redact_text
from tests.api.auth_support import BASE_ENV, OTHER_STRONG_PASSWORD, STRONG_PASSWORD, AuthClient, ClientFactory
from tests.api.test_oauth_google import CLIENT_SECRET, FakeGoogle, google_config


def _token(link: str) -> str:
    query = parse_qs(urlsplit(link).query)
    return query["token"][0] if "token" in query else urlsplit(link).path.rsplit("/", 1)[1]


async def _run_everything(client: AuthClient, google_server: TestServer, secrets: set[str]) -> None:
    third_password = "Tr0ub4dor&3-staple-horse"
    secrets.update({STRONG_PASSWORD, OTHER_STRONG_PASSWORD, third_password, BASE_ENV["BETTER_AUTH_SECRET"],
                    CLIENT_SECRET})
    secrets.add((await client.sign_up("ada@example.com"))["token"])
    secrets.add(str(client.cookie("boring-app.session_token")))
    verify = await client.link("ada@example.com", "Verify", "/auth/verify-email")
    secrets.add(_token(verify))
    assert (await client.http.post("/auth/verify-email", json={"token": _token(verify)})).status == 200
    await client.sign_out()
    await client.sign_in("ada@example.com", "wrong-" + STRONG_PASSWORD, expect=401)
    await client.sign_in("nobody@example.com", STRONG_PASSWORD, expect=401)
    await client.http.post("/auth/request-password-reset", json={"email": "ada@example.com"})
    reset = await client.link("ada@example.com", "Reset", "/auth/reset-password/")
    secrets.add(_token(reset))
    assert (await client.http.get(reset, allow_redirects=False)).status == 302
    reset_response = await client.http.post("/auth/reset-password",
                                             json={"token": _token(reset), "newPassword": OTHER_STRONG_PASSWORD})
    assert reset_response.status == 200
    secrets.add((await client.sign_in("ada@example.com", OTHER_STRONG_PASSWORD))["token"])
    secrets.add(str(client.cookie("boring-app.session_token")))
    changed = await client.http.post("/auth/change-password", json={
        "currentPassword": OTHER_STRONG_PASSWORD, "newPassword": third_password, "revokeOtherSessions": True})
    secrets.add((await changed.json())["token"])
    await client.sign_out()

    await client.http.post("/auth/sign-in/magic-link", json={"email": "bob@example.com", "callbackURL": "/"})
    magic = await client.link("bob@example.com", "Sign in", "/auth/magic-link/verify")
    secrets.add(_token(magic))
    assert (await client.http.get(magic, allow_redirects=False)).status == 302
    secrets.add(str(client.cookie("boring-app.session_token")))
    await client.sign_out()

    started = await client.http.post("/auth/sign-in/social", json={"provider": "google"})
    url = (await started.json())["url"]
    secrets.add(parse_qs(urlsplit(url).query)["state"][0])
    secrets.add(parse_qs(urlsplit(url).query)["code_challenge"][0])
    at_google = await client.http.session.get(url, allow_redirects=False)
    back = urlsplit(at_google.headers["Location"])
    secrets.add(parse_qs(back.query)["code"][0])
    assert (await client.http.get(f"{back.path}?{back.query}", allow_redirects=False)).status == 302
    secrets.add(str(client.cookie("boring-app.session_token")))
    deleted = await client.http.delete("/api/v1/me", json={"confirm": "ada@example.com"})
    assert deleted.status == 200
    await client.drain()


async def test_a_full_flow_logs_no_secret(make_client: ClientFactory, tmp_path: Path, aiohttp_server: object,
                                          caplog: pytest.LogCaptureFixture) -> None:
    fake = FakeGoogle()
    # The fake provider is someone else's server: its own access log is not localcore's to keep clean.
    server: TestServer = await aiohttp_server(fake.app(), access_log=None)  # type: ignore[operator]
    client = await make_client(google_config(tmp_path, server))
    caplog.set_level(logging.DEBUG)
    secrets: set[str] = set()
    await _run_everything(client, server, secrets)
    secrets.discard("None")
    assert len(secrets) >= 15

    texts = []
    for record in caplog.records:
        text = record.getMessage() + (record.exc_text or "")
        texts.append(redact_text(text) if record.name == "aiohttp.access" else text)
    assert any("signed up" in t for t in texts)  # the flow did log
    assert any(r.name == "aiohttp.access" for r in caplog.records)
    leaks = [(secret, text) for secret in secrets for text in texts if secret in text]
    assert leaks == []
