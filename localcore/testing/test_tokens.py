"""TokenStore contract: hashed one-time tokens (verification, reset, magic link, bootstrap, OAuth state)."""

from __future__ import annotations

import asyncio
import hashlib
from datetime import timedelta
from typing import Any

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend, ConstraintViolation


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def test_put_get_and_consume(backend: Backend, clock: ManualClock) -> None:
    tokens = backend.tokens
    expires = clock() + timedelta(hours=1)
    stored = await tokens.put_token(kind="reset-password", token_hash=h("a"), data={"userId": "u1", "n": [1, 2]},
                                    expires_at=expires)
    assert (stored.kind, stored.token_hash, stored.data, stored.expires_at, stored.created_at) == (
        "reset-password", h("a"), {"userId": "u1", "n": [1, 2]}, expires, clock())
    peeked = await tokens.get_token("reset-password", h("a"))
    assert peeked == stored
    assert await tokens.get_token("reset-password", h("a")) == stored  # looking does not consume
    consumed = await tokens.consume_token("reset-password", h("a"))
    assert consumed == stored
    assert await tokens.consume_token("reset-password", h("a")) is None
    assert await tokens.get_token("reset-password", h("a")) is None


async def test_kinds_are_separate_namespaces(backend: Backend, clock: ManualClock) -> None:
    tokens = backend.tokens
    await tokens.put_token(kind="magic-link", token_hash=h("x"), data={}, expires_at=clock())
    assert await tokens.get_token("verify-email", h("x")) is None
    assert await tokens.consume_token("verify-email", h("x")) is None
    await tokens.put_token(kind="verify-email", token_hash=h("x"), data={"k": 1}, expires_at=clock())
    verify = await tokens.consume_token("verify-email", h("x"))
    assert verify is not None and verify.data == {"k": 1}
    assert await tokens.get_token("magic-link", h("x")) is not None


async def test_expired_tokens_are_returned_for_the_caller_to_judge(backend: Backend, clock: ManualClock) -> None:
    await backend.tokens.put_token(kind="k", token_hash=h("old"), data={}, expires_at=clock() - timedelta(1))
    clock.advance(days=3)
    consumed = await backend.tokens.consume_token("k", h("old"))
    assert consumed is not None and consumed.expires_at < clock()


async def test_a_duplicate_hash_is_a_unique_violation(backend: Backend, clock: ManualClock) -> None:
    await backend.tokens.put_token(kind="k", token_hash=h("dup"), data={}, expires_at=clock())
    with pytest.raises(ConstraintViolation) as caught:
        await backend.tokens.put_token(kind="k", token_hash=h("dup"), data={}, expires_at=clock())
    assert caught.value.kind == "unique"


async def test_returned_data_is_a_copy(backend: Backend, clock: ManualClock) -> None:
    data: dict[str, Any] = {"userId": "u", "nested": {"a": 1}}
    await backend.tokens.put_token(kind="k", token_hash=h("c"), data=data, expires_at=clock())
    data["nested"]["a"] = 2
    got = await backend.tokens.get_token("k", h("c"))
    assert got is not None and got.data == {"userId": "u", "nested": {"a": 1}}
    got.data["nested"]["a"] = 3
    again = await backend.tokens.consume_token("k", h("c"))
    assert again is not None and again.data["nested"] == {"a": 1}


async def test_concurrent_consumers_have_exactly_one_winner(backend: Backend, clock: ManualClock) -> None:
    for round_ in range(5):
        await backend.tokens.put_token(kind="k", token_hash=h(f"race{round_}"), data={"r": round_},
                                       expires_at=clock())
        results = await asyncio.gather(*(backend.tokens.consume_token("k", h(f"race{round_}"))
                                         for _ in range(8)))
        winners = [r for r in results if r is not None]
        assert len(winners) == 1 and winners[0].data == {"r": round_}


@pytest.mark.shared_storage  # not memory: its state lives inside one process
async def test_concurrent_consumers_in_two_processes_have_exactly_one_winner(
        backend: Backend, backend_url: str, clock: ManualClock) -> None:
    from backends import open_backend

    other = await open_backend(backend_url, clock=clock)
    try:
        for round_ in range(5):
            await backend.tokens.put_token(kind="k", token_hash=h(f"p{round_}"), data={}, expires_at=clock())
            results = await asyncio.gather(*(
                (backend if i % 2 else other).tokens.consume_token("k", h(f"p{round_}")) for i in range(6)))
            assert sum(r is not None for r in results) == 1
    finally:
        await other.close()


async def test_delete_tokens_for_user_all_or_one_kind(backend: Backend, clock: ManualClock) -> None:
    tokens = backend.tokens
    for kind in ("verify-email", "reset-password", "magic-link"):
        await tokens.put_token(kind=kind, token_hash=h(kind), data={"userId": "u1"}, expires_at=clock())
        await tokens.put_token(kind=kind, token_hash=h(kind + "2"), data={"userId": "u2"}, expires_at=clock())
    await tokens.put_token(kind="reset-password", token_hash=h("second"), data={"userId": "u1"},
                           expires_at=clock())
    assert await tokens.delete_tokens_for_user("u1", kind="reset-password") == 2
    assert await tokens.get_token("reset-password", h("reset-password")) is None
    assert await tokens.get_token("verify-email", h("verify-email")) is not None
    assert await tokens.get_token("reset-password", h("reset-password2")) is not None
    assert await tokens.delete_tokens_for_user("u1") == 2
    assert await tokens.get_token("magic-link", h("magic-link")) is None
    assert await tokens.delete_tokens_for_user("u1") == 0
    assert await tokens.get_token("magic-link", h("magic-link2")) is not None


async def test_expired_tokens_are_swept_and_live_ones_kept(backend: Backend, clock: ManualClock) -> None:
    from datetime import timedelta

    now = clock()
    await backend.tokens.put_token(kind="reset-password", token_hash=h("old"), data={},
                                   expires_at=now - timedelta(seconds=1))
    await backend.tokens.put_token(kind="reset-password", token_hash=h("edge"), data={}, expires_at=now)
    await backend.tokens.put_token(kind="magic-link", token_hash=h("live"), data={},
                                   expires_at=now + timedelta(minutes=5))
    assert await backend.tokens.delete_expired_tokens(now) == 2
    assert await backend.tokens.get_token("reset-password", h("old")) is None
    assert await backend.tokens.get_token("magic-link", h("live")) is not None
