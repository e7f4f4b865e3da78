"""SessionStore contract: sessions stored under the SHA-256 of their token, never the token itself."""

from __future__ import annotations

import hashlib
from datetime import timedelta

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend, ConstraintViolation, User


def h(value: str) -> str:
    return hashlib.sha256(value.encode()).hexdigest()


async def _user(backend: Backend, email: str = "ada@example.com") -> User:
    return await backend.users.create_user(email=email, name="Ada")


async def test_create_and_get(backend: Backend, clock: ManualClock) -> None:
    user = await _user(backend)
    expires = clock() + timedelta(days=30)
    session = await backend.sessions.create_session(token_hash=h("t1"), user_id=user.id, expires_at=expires,
                                                    ip_address="127.0.0.1", user_agent="pytest")
    assert (session.token_hash, session.user_id, session.expires_at, session.created_at, session.updated_at,
            session.ip_address, session.user_agent) == (h("t1"), user.id, expires, clock(), clock(), "127.0.0.1",
                                                        "pytest")
    found = await backend.sessions.get_session(h("t1"))
    assert found is not None
    assert found[0] == session and found[1] == user
    assert await backend.sessions.get_session(h("nope")) is None


async def test_expired_sessions_are_still_returned(backend: Backend, clock: ManualClock) -> None:
    user = await _user(backend)
    await backend.sessions.create_session(token_hash=h("t"), user_id=user.id, expires_at=clock())
    clock.advance(days=1)
    found = await backend.sessions.get_session(h("t"))
    assert found is not None and found[0].expires_at < clock()


async def test_extend_session_moves_the_expiry_and_bumps_updated_at(backend: Backend, clock: ManualClock) -> None:
    user = await _user(backend)
    session = await backend.sessions.create_session(token_hash=h("t"), user_id=user.id,
                                                    expires_at=clock() + timedelta(days=1))
    clock.advance(hours=30)
    await backend.sessions.extend_session(session.id, clock() + timedelta(days=30))
    found = await backend.sessions.get_session(h("t"))
    assert found is not None
    assert found[0].expires_at == clock() + timedelta(days=30)
    assert found[0].updated_at == clock() and found[0].created_at == session.created_at


async def test_token_hash_is_unique_and_the_user_must_exist(backend: Backend, clock: ManualClock) -> None:
    user = await _user(backend)
    await backend.sessions.create_session(token_hash=h("t"), user_id=user.id, expires_at=clock())
    with pytest.raises(ConstraintViolation) as duplicate:
        await backend.sessions.create_session(token_hash=h("t"), user_id=user.id, expires_at=clock())
    assert duplicate.value.kind == "unique"
    with pytest.raises(ConstraintViolation) as orphan:
        await backend.sessions.create_session(token_hash=h("o"), user_id="00000000-0000-4000-8000-000000000000",
                                              expires_at=clock())
    assert orphan.value.kind == "foreign_key"


async def test_list_oldest_first_and_delete(backend: Backend, clock: ManualClock) -> None:
    ada = await _user(backend)
    bob = await _user(backend, "bob@example.com")
    for name in ("a1", "a2", "a3"):
        await backend.sessions.create_session(token_hash=h(name), user_id=ada.id, expires_at=clock())
        clock.advance(seconds=1)
    await backend.sessions.create_session(token_hash=h("b1"), user_id=bob.id, expires_at=clock())
    assert [s.token_hash for s in await backend.sessions.list_sessions(ada.id)] == [h("a1"), h("a2"), h("a3")]
    assert await backend.sessions.list_sessions("not-a-uuid") == []
    assert await backend.sessions.delete_session(h("a2")) is True
    assert await backend.sessions.delete_session(h("a2")) is False
    assert await backend.sessions.delete_user_sessions(ada.id, except_token_hash=h("a3")) == 1
    assert [s.token_hash for s in await backend.sessions.list_sessions(ada.id)] == [h("a3")]
    assert await backend.sessions.delete_user_sessions(ada.id) == 1
    assert await backend.sessions.list_sessions(ada.id) == []
    assert len(await backend.sessions.list_sessions(bob.id)) == 1


async def test_delete_expired_sessions(backend: Backend, clock: ManualClock) -> None:
    user = await _user(backend)
    await backend.sessions.create_session(token_hash=h("old"), user_id=user.id, expires_at=clock())
    await backend.sessions.create_session(token_hash=h("new"), user_id=user.id,
                                          expires_at=clock() + timedelta(seconds=1))
    assert await backend.sessions.delete_expired_sessions(clock()) == 1
    assert [s.token_hash for s in await backend.sessions.list_sessions(user.id)] == [h("new")]


async def test_sessions_go_with_their_user(backend: Backend, clock: ManualClock) -> None:
    user = await _user(backend)
    await backend.sessions.create_session(token_hash=h("t"), user_id=user.id, expires_at=clock())
    assert await backend.users.delete_user_completely(user.id) is True
    assert await backend.sessions.get_session(h("t")) is None
    assert await backend.sessions.list_sessions(user.id) == []


@pytest.mark.shared_storage  # not memory: its state lives inside one process
async def test_a_second_process_sees_revocations_at_once(backend: Backend, backend_url: str,
                                                         clock: ManualClock) -> None:
    from backends import open_backend

    user = await _user(backend)
    await backend.sessions.create_session(token_hash=h("t"), user_id=user.id, expires_at=clock())
    other = await open_backend(backend_url, clock=clock)
    try:
        assert await other.sessions.get_session(h("t")) is not None
        assert await backend.sessions.delete_session(h("t")) is True
        assert await other.sessions.get_session(h("t")) is None
    finally:
        await other.close()


async def test_remember_me_is_stored_with_the_session(backend: Backend, clock: ManualClock) -> None:
    """A short (``rememberMe: false``) session says so itself: the server must not have to trust a cookie
    the client can drop to know that it must not slide."""
    user = await _user(backend)
    expires = clock() + timedelta(days=1)
    short = await backend.sessions.create_session(token_hash=h("short"), user_id=user.id, expires_at=expires,
                                                  remember=False)
    long = await backend.sessions.create_session(token_hash=h("long"), user_id=user.id, expires_at=expires)
    assert (short.remember, long.remember) == (False, True)
    found_short = await backend.sessions.get_session(h("short"))
    found_long = await backend.sessions.get_session(h("long"))
    assert found_short is not None and found_short[0].remember is False
    assert found_long is not None and found_long[0].remember is True
    await backend.sessions.extend_session(short.id, expires + timedelta(hours=1))
    listed = {s.token_hash: s.remember for s in await backend.sessions.list_sessions(user.id)}
    assert listed == {h("short"): False, h("long"): True}
