"""Attack: read the dev mailbox without being the person at the terminal (docs/compatibility.md, "Security hardening").

``GET /api/dev/mail`` holds every magic-link, reset and invite token the server mailed. Today anyone who
can reach the port reads it, so any local process, OS user or (bound to ``0.0.0.0``) the LAN requests a
magic link for someone else's address, reads the link from the mailbox and signs in as them. Fixed: the
mailbox opens only with the per-data-dir secret ``DEV_MAILBOX_TOKEN`` (as ``?token=``, the
``x-dev-mailbox-token`` header, or the ``<app_id>.dev_mailbox`` cookie that the banner link
``/dev/mail?token=SECRET`` sets); without it, 404 exactly as a server without a mailbox answers.
"""

from __future__ import annotations

import re
from pathlib import Path
from typing import Any

import pytest
from aiohttp import ClientResponse

from localcore import load_config
from localcore.appkeys import CONFIG
from tests.api.auth_support import BASE_ENV, AuthClient, ClientFactory, disabled_mailer, make_config
from tests.api.security_support import AiohttpClient, another_browser, http, running_server

SECRET = "mailbox-secret-" + "m" * 32
VICTIM = "victim@example.com"
MAILBOX = "/api/dev/mail"
BANNER_LINK = re.compile(r"Dev mailbox: (http://\S+)/dev/mail\?token=(\S+)")


def near_misses(right: str) -> list[str]:
    """Values an attacker might try: empty, a guess, one character short or long, another case."""
    return [v for v in ("", "wrong", right[:-1], right + "x", right.swapcase()) if v != right]


async def _mailbox_client(make_client: ClientFactory, **env: str) -> AuthClient:
    return await make_client(make_config(DEV_MAILBOX_TOKEN=SECRET, **env))


async def _victim_requests_a_magic_link(client: AuthClient) -> None:
    response = await client.http.post("/auth/sign-in/magic-link", json={"email": VICTIM})
    assert response.status == 200
    await client.drain()


async def _body(response: ClientResponse) -> dict[str, Any]:
    body = await response.json()
    assert isinstance(body, dict)
    body.pop("requestId", None)
    return body


async def _no_mailbox_answer(make_client: ClientFactory, method: str) -> dict[str, Any]:
    """What a server with no mailbox at all (mail off) answers on the mailbox route."""
    config = make_config()
    without_mail = await make_client(config, mailer=disabled_mailer(config))
    response = await without_mail.http.request(method, MAILBOX)
    assert response.status == 404
    return await _body(response)


async def test_an_anonymous_client_cannot_read_the_magic_link_another_user_requested(
        make_client: ClientFactory, aiohttp_client: AiohttpClient) -> None:
    victim = await _mailbox_client(make_client)
    await _victim_requests_a_magic_link(victim)
    attacker = await another_browser(aiohttp_client, victim)
    response = await attacker.http.get(MAILBOX)
    text = await response.text()
    assert response.status == 404, text
    assert "magic-link" not in text and VICTIM not in text
    body = await _body(response)
    assert body["error"] == "Route GET:/api/dev/mail not found" and body["code"] == "not_found"
    assert body == await _no_mailbox_answer(make_client, "GET")  # indistinguishable from "no mailbox"
    # Nor can the attacker empty it to hide what was sent.
    deleted = await attacker.http.delete(MAILBOX)
    assert deleted.status == 404
    assert await _body(deleted) == await _no_mailbox_answer(make_client, "DELETE")
    owner_view = await victim.http.get(MAILBOX, headers={"x-dev-mailbox-token": SECRET})
    assert owner_view.status == 200
    assert [m["to"] for m in (await owner_view.json())["messages"]] == [VICTIM]


@pytest.mark.parametrize("form", ["query", "header"])
async def test_only_the_exact_secret_opens_the_mailbox(make_client: ClientFactory, form: str) -> None:
    client = await _mailbox_client(make_client)
    await _victim_requests_a_magic_link(client)

    async def read_with(value: str) -> ClientResponse:
        if form == "query":
            return await client.http.get(MAILBOX, params={"token": value})
        return await client.http.get(MAILBOX, headers={"x-dev-mailbox-token": value})

    for wrong in near_misses(SECRET):
        refused = await read_with(wrong)
        assert refused.status == 404, (wrong, await refused.text())
        assert (await _body(refused))["code"] == "not_found"
    opened = await read_with(SECRET)
    assert opened.status == 200
    assert [m["to"] for m in (await opened.json())["messages"]] == [VICTIM]


async def test_a_forged_mailbox_cookie_is_refused(make_client: ClientFactory,
                                                  aiohttp_client: AiohttpClient) -> None:
    owner = await _mailbox_client(make_client)
    await _victim_requests_a_magic_link(owner)
    response = await owner.http.get("/dev/mail", params={"token": SECRET}, allow_redirects=False)
    assert response.status == 302
    real = owner.cookie("boring-app.dev_mailbox")
    assert real
    attacker = await another_browser(aiohttp_client, owner)
    for forged in near_misses(real):
        refused = await attacker.http.get(MAILBOX, headers={"Cookie": f"boring-app.dev_mailbox={forged}"})
        assert refused.status == 404, (forged, await refused.text())
    opened = await attacker.http.get(MAILBOX, headers={"Cookie": f"boring-app.dev_mailbox={real}"})
    assert opened.status == 200  # the cookie is a bearer credential: only the banner link hands it out


async def test_the_secret_also_empties_the_mailbox(make_client: ClientFactory) -> None:
    client = await _mailbox_client(make_client)
    await _victim_requests_a_magic_link(client)
    assert (await client.http.delete(MAILBOX)).status == 404
    assert (await client.http.delete(MAILBOX, headers={"x-dev-mailbox-token": SECRET})).status == 204
    emptied = await client.http.get(MAILBOX, params={"token": SECRET})
    assert await emptied.json() == {"messages": []}


async def test_the_banner_link_sets_a_strict_http_only_cookie_that_alone_opens_the_mailbox(
        make_client: ClientFactory) -> None:
    client = await _mailbox_client(make_client)
    await _victim_requests_a_magic_link(client)
    assert (await client.http.get(MAILBOX)).status == 404  # no cookie yet
    response = await client.http.get("/dev/mail", params={"token": SECRET}, allow_redirects=False)
    assert response.status == 302
    assert response.headers["Location"] == "/dev/mail"  # the secret leaves the address bar
    cookie = next(c for c in response.headers.getall("Set-Cookie", []) if c.startswith("boring-app.dev_mailbox="))
    attributes = {part.strip().split("=", 1)[0].lower(): part.strip() for part in cookie.split(";")[1:]}
    assert "httponly" in attributes
    assert attributes["samesite"].lower() == "samesite=strict"
    assert attributes["path"] == "Path=/"
    opened = await client.http.get(MAILBOX)  # the jar now holds the cookie; no token, no header
    assert opened.status == 200
    assert [m["to"] for m in (await opened.json())["messages"]] == [VICTIM]


async def test_the_mailbox_cookie_is_named_after_the_app(make_client: ClientFactory) -> None:
    client = await _mailbox_client(make_client, APP_ID="notes")
    response = await client.http.get("/dev/mail", params={"token": SECRET}, allow_redirects=False)
    assert response.status == 302
    assert any(c.startswith("notes.dev_mailbox=") for c in response.headers.getall("Set-Cookie", []))
    assert (await client.http.get(MAILBOX)).status == 200


async def test_a_wrong_banner_token_redirects_without_a_cookie(make_client: ClientFactory) -> None:
    client = await _mailbox_client(make_client)
    response = await client.http.get("/dev/mail", params={"token": "guess"}, allow_redirects=False)
    assert response.status == 302 and response.headers["Location"] == "/dev/mail"
    assert not any("dev_mailbox=" in c for c in response.headers.getall("Set-Cookie", []))
    assert (await client.http.get(MAILBOX)).status == 404


async def test_a_library_caller_without_the_secret_gets_an_unguessable_one(make_client: ClientFactory) -> None:
    config = load_config(env=BASE_ENV)
    secret = config.dev_mailbox_token
    assert isinstance(secret, str) and len(secret) >= 16
    client = await make_client(config)
    assert client.app[CONFIG].dev_mailbox_token == secret
    await _victim_requests_a_magic_link(client)
    assert (await client.http.get(MAILBOX)).status == 404
    assert (await client.http.get(MAILBOX, headers={"x-dev-mailbox-token": secret})).status == 200


def _banner_secret(base_url: str, line: str) -> str:
    match = BANNER_LINK.search(line)
    assert match is not None, line
    assert match.group(1) == base_url
    return match.group(2)


def test_the_banner_prints_the_mailbox_link_and_the_secret_survives_a_restart(tmp_path: Path) -> None:
    args = ("--data-dir", str(tmp_path / "data"), "--port", "0", "--no-bootstrap")
    with running_server(*args, cwd=tmp_path) as server:
        secret = _banner_secret(server.url, server.wait_for_line(lambda line: "Dev mailbox:" in line))
        assert len(secret) >= 16
        status, body = http("POST", f"{server.url}/auth/sign-in/magic-link", {"email": VICTIM})
        assert status == 200, body
        status, body = http("GET", f"{server.url}{MAILBOX}")
        assert status == 404 and body["code"] == "not_found"
        status, body = http("GET", f"{server.url}{MAILBOX}?token={secret}")
        assert status == 200 and [m["to"] for m in body["messages"]] == [VICTIM]
        status, _ = http("GET", f"{server.url}{MAILBOX}", headers={"x-dev-mailbox-token": secret})
        assert status == 200
    with running_server(*args, cwd=tmp_path) as restarted:
        again = _banner_secret(restarted.url, restarted.wait_for_line(lambda line: "Dev mailbox:" in line))
    assert again == secret  # kept with the other first-run secrets of the data dir
