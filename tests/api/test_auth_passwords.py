"""Password hashing, legacy scrypt compatibility, the strength gate, token and signature helpers, and the
callback-URL rule (units; no backend)."""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator

import pytest

from localcore.auth.passwords import Argon2Params, PasswordHasher, Verification, is_legacy_scrypt, strength_score
from localcore.auth.tokens import hash_token, new_token, pkce_challenge, sign, unsign
from localcore.auth.urls import is_safe_target, with_query

# Computed with Node's crypto.scryptSync (the same scrypt better-auth runs through @noble/hashes):
# salt = the hex STRING, N=16384, r=16, p=1, dkLen=64, password NFKC-normalised.
NODE_VECTORS = [
    ("pässword", "0123456789abcdef0123456789abcdef:97c07817272163f9b23e52645dc2bde66450d231fdd2620a70c94806260537c0"
                 "bba3321f6e7f5c67431646e726fa5cfec1644cb5d438a7012fe61c7514e4b95b"),
    ("\ufb01le-Password1", "00112233445566778899aabbccddeeff:b1312ebd1789c2318fc7e82fab7f917754a670a0191f6335264e3a9a"
                           "fabe59f1667c119be7a94d0b70910cc42f85339bd695b0cfe4afd35c8bbab40aac5f109c"),
]


@pytest.fixture
async def hasher() -> AsyncIterator[PasswordHasher]:
    pool = PasswordHasher()
    yield pool
    pool.close()


@pytest.mark.parametrize(("password", "stored"), NODE_VECTORS)
async def test_upstream_scrypt_hashes_verify_and_ask_for_a_rehash(hasher: PasswordHasher, password: str,
                                                                  stored: str) -> None:
    assert is_legacy_scrypt(stored)
    result = await hasher.verify(stored, password)
    assert result.ok and result.needs_rehash
    assert not (await hasher.verify(stored, password + "x")).ok


async def test_nfkc_makes_compatibility_forms_equal(hasher: PasswordHasher) -> None:
    stored = NODE_VECTORS[1][1]
    assert (await hasher.verify(stored, "file-Password1")).ok  # the ligature normalises to "fi"


async def test_new_hashes_are_argon2id_at_the_owasp_baseline(hasher: PasswordHasher) -> None:
    stored = await hasher.hash("Zk8$mN!qR2xFgWpJ")
    assert stored.startswith("$argon2id$v=19$m=19456,t=2,p=1$")
    result = await hasher.verify(stored, "Zk8$mN!qR2xFgWpJ")
    assert result.ok and not result.needs_rehash
    assert not (await hasher.verify(stored, "Zk8$mN!qR2xFgWpj")).ok
    assert not (await hasher.verify("garbage", "x")).ok
    assert not (await hasher.verify(None, "x")).ok
    with pytest.raises(ValueError, match="OWASP"):
        Argon2Params(memory_cost=8 * 1024)


async def test_weaker_argon2_hashes_are_upgraded(hasher: PasswordHasher) -> None:
    from argon2 import PasswordHasher as Raw

    old = Raw(time_cost=1, memory_cost=8 * 1024, parallelism=1).hash("Zk8$mN!qR2xFgWpJ")
    result = await hasher.verify(old, "Zk8$mN!qR2xFgWpJ")
    assert result.ok and result.needs_rehash


async def test_the_warm_up_spends_no_verification_and_the_dummy_hash_is_made_once(hasher: PasswordHasher) -> None:
    """The start-up warm-up runs in the background while sign-ins are served, so it must not spend a
    verification of its own: each sign-in's one verification is what keeps unknown and known emails
    equally slow (``test_unknown_email_costs_one_argon2_verification_like_a_wrong_password``)."""
    verified: list[str] = []
    original = hasher._verify_argon

    def counting(stored: str, password: str) -> Verification:
        verified.append(password)
        return original(stored, password)

    hasher._verify_argon = counting  # type: ignore[method-assign]
    hashed: list[str] = []
    original_hash = hasher.hash

    async def counting_hash(password: str) -> str:
        hashed.append(password)
        return await original_hash(password)

    hasher.hash = counting_hash  # type: ignore[method-assign]
    await asyncio.gather(hasher.warm_up(), hasher.verify_dummy("first"), hasher.verify_dummy("second"))
    assert verified == ["first", "second"] or verified == ["second", "first"]
    assert len(hashed) == 1, "the dummy hash was computed more than once"


async def test_hashing_does_not_block_the_event_loop(hasher: PasswordHasher) -> None:
    ticks = 0
    stop = asyncio.Event()

    async def ticker() -> None:
        nonlocal ticks
        while not stop.is_set():
            await asyncio.sleep(0.005)
            ticks += 1

    task = asyncio.create_task(ticker())
    started = time.perf_counter()
    await asyncio.gather(*(hasher.hash(f"password-{i}") for i in range(6)))
    elapsed = time.perf_counter() - started
    stop.set()
    await task
    assert ticks >= elapsed / 0.005 * 0.3  # the loop kept ticking while the pool hashed


@pytest.mark.parametrize(("password", "weak"), [
    ("password", True), ("12345678", True), ("qwerty123", True), ("iloveyou1", True),
    ("Zk8$mN!qR2xFgWpJ", False), ("correct-horse-battery-staple", False), ("Tr0ub4dor&3-staple-horse", False),
])
def test_strength_gate_matches_upstream_examples(password: str, weak: bool) -> None:
    assert (strength_score(password) < 2) is weak


def test_the_users_own_email_and_name_count_as_guessable() -> None:
    inputs = ["grace.hopper1906@example.com", "grace.hopper1906", "Grace", "Hopper"]  # what sign-up passes
    assert strength_score("grace.hopper1906", inputs) < 2
    assert strength_score("grace.hopper1906") >= 2


def test_long_passwords_are_scored() -> None:
    assert strength_score("x" * 128) < 2


def test_tokens_are_random_and_only_their_hash_is_kept() -> None:
    tokens = {new_token() for _ in range(100)}
    assert len(tokens) == 100 and all(len(t) == 43 for t in tokens)
    token = tokens.pop()
    assert hash_token(token) == hash_token(token) and len(hash_token(token)) == 64 and token not in hash_token(token)


def test_signatures_verify_and_refuse_tampering() -> None:
    signed = sign("secret", "abc")
    assert unsign("secret", signed) == "abc"
    assert unsign("other", signed) is None
    assert unsign("secret", signed.replace("abc", "abd")) is None
    for junk in (None, "", "abc", "abc.", ".sig", "%%%", "abc.AAAA"):
        assert unsign("secret", junk) is None


def test_pkce_s256_matches_rfc_7636_appendix_b() -> None:
    verifier = "dBjftJeZ4CVP-mB92K27uhbUJU1p1r_wW1gFWFOEjXk"
    assert pkce_challenge(verifier) == "E9Melhoa2OwvFrEMTJguCHaoeK1t8URWbuGJSstw-cM"


@pytest.mark.parametrize(("target", "safe"), [
    ("/dashboard", True), ("/a?b=c#d", True), ("https://app.example.com/x", True),
    ("https://APP.example.com/x", True), ("http://127.0.0.1/auth", True),
    ("https://evil.com", False), ("//evil.com", False), ("/\\evil.com", False),
    ("https://app.example.com.evil.com/", False), ("https://app.example.com:8443/", False),
    ("http://app.example.com/", False), ("javascript:alert(1)", False), ("data:text/html,x", False),
    ("/x\r\nSet-Cookie: a=b", False), ("/x\x00", False), ("/<script>", False), ('/"', False), ("/'", False),
    ("/`", False), ("", False), ("dashboard", False), ("https://user:pw@app.example.com/", False),
    ("https://app.example.com:99999/", False),
])
def test_safe_targets(target: str, safe: bool) -> None:
    assert is_safe_target(target, ("https://app.example.com", "http://127.0.0.1")) is safe


def test_with_query_adds_and_replaces() -> None:
    assert with_query("/auth/reset-password", token="a b") == "/auth/reset-password?token=a%20b"
    assert with_query("/x?error=OLD&keep=1", error="NEW") == "/x?keep=1&error=NEW"
