"""Attack: pre-register the victim's address and keep the account after they prove it (docs/compatibility.md,
"Security hardening").

The attacker signs up with ``victim@example.com`` and a password of their own (unverified) and keeps that
browser's session. Later the victim signs in with a magic link, which proves the address, and today the
attacker's session and password keep working and see everything the victim puts there. The same with
``POST /auth/change-email`` onto the victim's address, proven by the mailed verification link or a magic
link. Fixed: when an address that was not verified yet is proven, the account's password is removed and
every other session revoked before the new session is issued; the victim can then set a password. An
already-verified user keeps their password and sessions (no regression).
"""

from __future__ import annotations

import pytest

from tests.api.auth_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD, AuthClient
from tests.api.security_support import AiohttpClient, another_browser, token_of

VICTIM = "victim@example.com"
ATTACKER_PASSWORD = OTHER_STRONG_PASSWORD
VICTIM_PASSWORD = "Victim-owns-this-now-77!"


async def _magic_link_sign_in(browser: AuthClient, how: str) -> None:
    """The victim asks for a magic link and follows it: upstream's JSON GET or the confirm page's POST."""
    response = await browser.http.post("/auth/sign-in/magic-link", json={"email": VICTIM})
    assert response.status == 200
    link = await browser.link(VICTIM, "Sign in to", "/auth/magic-link/verify")
    if how == "get":
        followed = await browser.http.get(link, headers={"Accept": "application/json"}, allow_redirects=False)
        assert followed.status in (200, 302), await followed.text()
    else:
        followed = await browser.http.post("/auth/magic-link/verify", json={"token": token_of(link)})
        assert followed.status == 200, await followed.text()
    assert (await browser.session())["user"]["email"] == VICTIM


async def _assert_locked_out(attacker: AuthClient) -> None:
    assert await attacker.session() is None
    assert (await attacker.http.get("/api/v1/me")).status == 401
    assert (await attacker.http.get("/api/v1/workspaces")).status == 401
    attacker.http.session.cookie_jar.clear()
    refused = await attacker.sign_in(VICTIM, ATTACKER_PASSWORD, expect=401)
    assert refused["code"] == "INVALID_EMAIL_OR_PASSWORD"


async def _assert_victim_owns_the_account(victim: AuthClient, aiohttp_client: AiohttpClient) -> None:
    assert (await victim.http.get("/api/v1/me")).status == 200
    response = await victim.http.post("/auth/set-password", json={"newPassword": VICTIM_PASSWORD})
    assert response.status == 200, await response.text()
    elsewhere = await another_browser(aiohttp_client, victim)
    await elsewhere.sign_in(VICTIM, VICTIM_PASSWORD)


@pytest.mark.parametrize("how", ["get", "post"])
async def test_a_magic_link_sign_in_evicts_whoever_pre_registered_the_address(
        app_client: AuthClient, aiohttp_client: AiohttpClient, how: str) -> None:
    attacker = app_client
    await attacker.sign_up(VICTIM, ATTACKER_PASSWORD, name="Not the victim")
    assert (await attacker.http.get("/api/v1/me")).status == 200
    victim = await another_browser(aiohttp_client, attacker)
    await _magic_link_sign_in(victim, how)
    await _assert_locked_out(attacker)
    await _assert_victim_owns_the_account(victim, aiohttp_client)


@pytest.mark.parametrize("proof", ["verification-link", "magic-link"])
async def test_moving_an_account_onto_the_victims_address_does_not_survive_the_proof(
        app_client: AuthClient, aiohttp_client: AiohttpClient, proof: str) -> None:
    attacker = app_client
    await attacker.sign_up("attacker@example.com", ATTACKER_PASSWORD)
    second_attacker_browser = await another_browser(aiohttp_client, attacker)
    await second_attacker_browser.sign_in("attacker@example.com", ATTACKER_PASSWORD)
    moved = await attacker.http.post("/auth/change-email", json={"newEmail": VICTIM})
    assert moved.status == 200, await moved.text()
    victim = await another_browser(aiohttp_client, attacker)
    if proof == "verification-link":
        link = await victim.link(VICTIM, "Verify your", "/auth/verify-email")
        verified = await victim.http.post("/auth/verify-email", json={"token": token_of(link)})
        assert verified.status == 200, await verified.text()
        await _magic_link_sign_in(victim, "post")  # the victim then signs in the only way left to them
    else:
        await _magic_link_sign_in(victim, "post")
    for browser in (attacker, second_attacker_browser):
        await _assert_locked_out(browser)
    await _assert_victim_owns_the_account(victim, aiohttp_client)


async def test_a_verified_user_keeps_password_and_sessions_on_a_magic_link_sign_in(
        app_client: AuthClient, aiohttp_client: AiohttpClient) -> None:
    """No regression: proving an address that was already proven takes nothing away."""
    owner = app_client
    await owner.sign_up(VICTIM, STRONG_PASSWORD)
    link = await owner.link(VICTIM, "Verify your", "/auth/verify-email")
    assert (await owner.http.post("/auth/verify-email", json={"token": token_of(link)})).status == 200
    laptop = await another_browser(aiohttp_client, owner)
    await _magic_link_sign_in(laptop, "post")
    assert (await owner.session())["user"]["email"] == VICTIM
    phone = await another_browser(aiohttp_client, owner)
    await phone.sign_in(VICTIM, STRONG_PASSWORD)
