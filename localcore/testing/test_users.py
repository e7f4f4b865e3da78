"""UserStore contract: users, login methods, per-app settings and the account-deletion cascade (its eight
steps: docs/contract.md, "The stores, briefly")."""

from __future__ import annotations

import uuid

import pytest

from localcore.clock import ManualClock
from localcore.store import Backend, ConstraintViolation, DuplicateEmail
from localcore.testing.workspace_support import raw_workspaces

UNKNOWN = "00000000-0000-4000-8000-000000000000"


async def test_create_normalises_and_defaults(backend: Backend, clock: ManualClock) -> None:
    user = await backend.users.create_user(email="  Ada@Example.COM ", name="Ada")
    assert (user.email, user.name, user.email_verified, user.image) == ("ada@example.com", "Ada", False, None)
    assert user.created_at == user.updated_at == clock()
    assert str(uuid.UUID(user.id)) == user.id
    assert await backend.users.get_user(user.id) == user
    assert await backend.users.get_user_by_email("ADA@example.com ") == user
    assert await backend.users.get_user("not-a-uuid") is None
    assert await backend.users.get_user(UNKNOWN) is None
    assert await backend.users.count_users() == 1


async def test_duplicate_email_is_refused_whatever_the_case(backend: Backend) -> None:
    await backend.users.create_user(email="ada@example.com")
    with pytest.raises(DuplicateEmail):
        await backend.users.create_user(email="ADA@example.com", password_hash="h")
    assert await backend.users.count_users() == 1


async def test_create_with_a_password_adds_the_credential_atomically(backend: Backend) -> None:
    user = await backend.users.create_user(email="ada@example.com", password_hash="$argon2id$x")
    credential = await backend.users.get_credential(user.id)
    assert credential is not None
    assert (credential.provider_id, credential.account_id, credential.password_hash) == (
        "credential", user.id, "$argon2id$x")
    assert await backend.users.get_account("credential", user.id) == credential


async def test_update_changes_only_what_is_given(backend: Backend, clock: ManualClock) -> None:
    user = await backend.users.create_user(email="ada@example.com", name="Ada", image="/a.png")
    clock.advance(seconds=5)
    updated = await backend.users.update_user(user.id, name="Countess")
    assert updated is not None
    assert (updated.name, updated.image, updated.email, updated.updated_at) == (
        "Countess", "/a.png", "ada@example.com", clock())
    verified = await backend.users.update_user(user.id, email_verified=True, email=" NEW@example.com")
    assert verified is not None and verified.email_verified and verified.email == "new@example.com"
    assert await backend.users.get_user_by_email("ada@example.com") is None
    cleared = await backend.users.update_user(user.id, clear_image=True)
    assert cleared is not None and cleared.image is None
    assert await backend.users.update_user(UNKNOWN, name="x") is None
    await backend.users.create_user(email="bob@example.com")
    with pytest.raises(DuplicateEmail):
        await backend.users.update_user(user.id, email="BOB@example.com")


async def test_accounts_link_unlink_and_passwords(backend: Backend) -> None:
    users = backend.users
    user = await users.create_user(email="ada@example.com")
    assert await users.get_credential(user.id) is None
    google = await users.link_account(user_id=user.id, provider_id="google", account_id="sub-1")
    assert await users.get_account("google", "sub-1") == google
    with pytest.raises(ConstraintViolation) as duplicate:
        await users.link_account(user_id=user.id, provider_id="google", account_id="sub-1")
    assert duplicate.value.kind == "unique"
    with pytest.raises(ConstraintViolation) as orphan:
        await users.link_account(user_id=UNKNOWN, provider_id="google", account_id="sub-2")
    assert orphan.value.kind == "foreign_key"
    await users.set_password_hash(user.id, "first")
    await users.set_password_hash(user.id, "second")
    credential = await users.get_credential(user.id)
    assert credential is not None and credential.password_hash == "second"
    assert await users.unlink_account(user.id, "credential") is True
    assert await users.unlink_account(user.id, "credential") is False
    assert await users.get_credential(user.id) is None
    assert await users.get_account("google", "sub-1") is not None


async def test_settings_are_derived_until_written_then_overlaid_per_app(backend: Backend) -> None:
    users = backend.users
    user = await users.create_user(email="ada@example.com", name="Ada")
    derived = await users.get_user_settings(user.id, "app")
    assert (derived.display_name, derived.email, derived.settings) == ("Ada", "ada@example.com", {})
    saved = await users.put_user_settings(user.id, "app", settings={"theme": "dark", "n": {"x": [1]}})
    assert (saved.display_name, saved.email, saved.settings) == ("Ada", "ada@example.com",
                                                                {"theme": "dark", "n": {"x": [1]}})
    renamed = await users.put_user_settings(user.id, "app", display_name="Countess")
    assert renamed.settings == {"theme": "dark", "n": {"x": [1]}}
    replaced = await users.put_user_settings(user.id, "app", settings={"locale": "en"})
    assert replaced.settings == {"locale": "en"} and replaced.display_name == "Countess"
    assert (await users.get_user_settings(user.id, "other-app")).display_name == "Ada"
    assert (await users.get_user_settings(UNKNOWN, "app")).display_name == ""


# ----------------------------------------------------------------------------- deletion cascade


async def test_deleting_an_unknown_user_is_false(backend: Backend) -> None:
    assert await backend.users.delete_user_completely(UNKNOWN) is False
    assert await backend.users.delete_user_completely("not-a-uuid") is False


async def test_deletion_removes_everything_that_hangs_off_the_user(backend: Backend, clock: ManualClock) -> None:
    users, ws = backend.users, raw_workspaces(backend)
    ada = await users.create_user(email="ada@example.com", name="Ada", password_hash="h")
    bob = await users.create_user(email="bob@example.com", name="Bob")
    await users.link_account(user_id=ada.id, provider_id="google", account_id="sub")
    await users.put_user_settings(ada.id, "app", display_name="Countess")
    await backend.sessions.create_session(token_hash="a" * 64, user_id=ada.id, expires_at=clock())
    await backend.tokens.put_token(kind="reset-password", token_hash="b" * 64, data={"userId": ada.id},
                                   expires_at=clock())
    await backend.metering.grant_once(ada.id, "signup_grant", 1_000_000)
    await backend.metering.grant_once(bob.id, "signup_grant", 1_000_000)
    shared = await ws.create_workspace(user_id=bob.id, name="Shared", app_id="app")
    await ws.add_member(shared.id, ada.id, "editor")
    guest = await users.create_user(email="guest@example.com")
    pending = (await ws.create_invite(shared.id, email="later@example.com", role="viewer", invited_by=ada.id)).invite
    accepted = (await ws.create_invite(shared.id, email="guest@example.com", role="viewer", invited_by=ada.id)).invite
    await ws.accept_invite(shared.id, accepted.id, guest.id)
    bobs = (await ws.create_invite(shared.id, email="other@example.com", role="viewer", invited_by=bob.id)).invite

    assert await users.delete_user_completely(ada.id) is True

    assert await users.get_user(ada.id) is None
    assert await users.get_account("google", "sub") is None
    assert await users.get_credential(ada.id) is None
    assert (await users.get_user_settings(ada.id, "app")).display_name == ""
    assert await backend.sessions.get_session("a" * 64) is None
    assert await backend.tokens.get_token("reset-password", "b" * 64) is None
    assert (await backend.metering.get_balance(ada.id)).granted_micros == 0
    assert (await backend.metering.get_balance(bob.id)).granted_micros == 1_000_000
    assert await ws.get_member_role(shared.id, ada.id) is None
    assert await ws.get_member_role(shared.id, bob.id) == "owner"
    assert await ws.get_invite(shared.id, pending.id) is None
    kept = await ws.get_invite(shared.id, accepted.id)
    assert kept is not None and kept.created_by is None and kept.accepted_at is not None
    bobs_invite = await ws.get_invite(shared.id, bobs.id)
    assert bobs_invite is not None and bobs_invite.created_by == bob.id
    assert await users.get_user(bob.id) is not None


async def test_sole_owner_deletion_hands_over_to_the_oldest_editor_or_deletes(
        backend: Backend, clock: ManualClock) -> None:
    users, ws = backend.users, raw_workspaces(backend)
    ada = await users.create_user(email="ada@example.com")
    old = await users.create_user(email="old@example.com")
    new = await users.create_user(email="new@example.com")
    viewer = await users.create_user(email="viewer@example.com")
    co = await users.create_user(email="co@example.com")
    team = await ws.create_workspace(user_id=ada.id, name="Team", app_id="app", is_default=True)
    clock.advance(seconds=1)
    await ws.add_member(team.id, old.id, "editor")
    clock.advance(seconds=1)
    await ws.add_member(team.id, new.id, "editor")
    await ws.add_member(team.id, viewer.id, "viewer")
    watched = await ws.create_workspace(user_id=ada.id, name="Watched", app_id="other-app")
    await ws.add_member(watched.id, viewer.id, "viewer")
    alone = await ws.create_workspace(user_id=ada.id, name="Alone", app_id="app")
    coowned = await ws.create_workspace(user_id=ada.id, name="Co-owned", app_id="app")
    await ws.add_member(coowned.id, co.id, "owner")
    viewed = await ws.create_workspace(user_id=co.id, name="Co's", app_id="app")
    await ws.add_member(viewed.id, ada.id, "viewer")

    await users.delete_user_completely(ada.id)

    kept = await ws.get_workspace(team.id)
    assert kept is not None and kept.created_by == old.id
    assert {m.user_id: m.role for m in await ws.list_members(team.id)} == {
        old.id: "owner", new.id: "editor", viewer.id: "viewer"}
    for gone in (watched, alone):
        assert await ws.get_workspace(gone.id) is None
        assert await ws.list_members(gone.id) == []
    survivor = await ws.get_workspace(coowned.id)
    assert survivor is not None and survivor.created_by == co.id
    assert [m.user_id for m in await ws.list_members(viewed.id)] == [co.id]
    # A default workspace that changed hands stays the new owner's (the creator moved with it).
    assert [w.id for w in await ws.list_workspaces(old.id, "app")] == [team.id]
