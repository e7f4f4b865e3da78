"""Every audited action, emitted by its real HTTP flow, on every backend: a table of (action, step) walked
in order over one app with console mail (links come from the dev mailbox), the offline dev checkout
(purchase, refund) and a provisioner that fails once (runtime retry). After each step the new events must
include the action, made by the request that did it (its request id) with the expected actor."""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field
from urllib.parse import parse_qs, urlsplit

import pytest

from localcore.clock import ManualClock
from localcore.contract.audit import ACTIONS, AuditEvent
from localcore.store import Backend
from tests.api.auth_support import OTHER_STRONG_PASSWORD, STRONG_PASSWORD
from tests.api.workspace_fixtures import AiohttpClient, FakeProvisioner, Harness, Person, open_harness

THIRD_PASSWORD = "another-Strong-passphrase-77"


@dataclass
class Walk:
    h: Harness
    people: dict[str, Person] = field(default_factory=dict)
    ids: dict[str, str] = field(default_factory=dict)
    provisioner: FakeProvisioner = field(default_factory=FakeProvisioner)

    @property
    def ada(self) -> Person:
        return self.people["ada"]

    def ws(self, path: str = "") -> str:
        return f"/api/v1/workspaces/{self.ids['workspace']}{path}"

    async def ok(self, who: Person, method: str, path: str, body: object = None, expect: int = 200) -> object:
        status, answer = await who.call(method, path, body, headers={"x-request-id": f"step-{path}"})
        assert status == expect, (method, path, answer)
        return answer


Step = Callable[[Walk], Awaitable[None]]


async def sign_up(w: Walk) -> None:
    w.people["ada"] = await w.h.person("ada@example.com", "Ada")


async def email_verify(w: Walk) -> None:
    link = await w.ada.client.link("ada@example.com", "Verify your", "/auth/verify-email")
    assert (await w.ada.client.http.get(link, allow_redirects=False)).status in (200, 302)


async def sign_out(w: Walk) -> None:
    await w.ada.client.sign_out()


async def sign_in_failed(w: Walk) -> None:
    await w.ada.client.sign_in("ada@example.com", "not-the-password-1", expect=401)


async def sign_in(w: Walk) -> None:
    await w.ada.client.sign_in("ada@example.com", STRONG_PASSWORD)


async def password_change(w: Walk) -> None:
    await w.ok(w.ada, "POST", "/auth/change-password",
               {"currentPassword": STRONG_PASSWORD, "newPassword": OTHER_STRONG_PASSWORD})


async def session_revoke(w: Walk) -> None:
    phone = await w.h.anonymous()
    await phone.sign_in("ada@example.com", OTHER_STRONG_PASSWORD)
    await w.ok(w.ada, "POST", "/auth/revoke-other-sessions", {})
    assert await phone.session() is None


async def password_reset(w: Walk) -> None:
    await w.ok(w.ada, "POST", "/auth/request-password-reset", {"email": "ada@example.com"})
    link = await w.ada.client.link("ada@example.com", "Reset your", "/auth/reset-password/")
    token = urlsplit(link).path.rsplit("/", 1)[1]
    await w.ok(w.ada, "POST", "/auth/reset-password", {"token": token, "newPassword": THIRD_PASSWORD})
    await w.ada.client.sign_in("ada@example.com", THIRD_PASSWORD)  # the reset signed every session out


async def workspace_create(w: Walk) -> None:
    answer = await w.ok(w.ada, "POST", "/api/v1/workspaces", {"name": "Team"}, expect=201)
    assert isinstance(answer, dict)
    w.ids["workspace"] = answer["workspace"]["id"]


async def workspace_update(w: Walk) -> None:
    await w.ok(w.ada, "PUT", w.ws(), {"name": "Team two"})


async def member_add(w: Walk) -> None:
    w.people["bob"] = await w.h.person("bob@example.com", "Bob")
    await w.ok(w.ada, "POST", w.ws("/members"), {"userId": w.people["bob"].id, "role": "viewer"}, expect=201)


async def member_role_change(w: Walk) -> None:
    await w.ok(w.ada, "PATCH", w.ws(f"/members/{w.people['bob'].id}/role"), {"role": "editor"})


async def member_remove(w: Walk) -> None:
    await w.ok(w.ada, "DELETE", w.ws(f"/members/{w.people['bob'].id}"))


async def invite_create(w: Walk) -> None:
    await w.ok(w.ada, "POST", w.ws("/invites"), {"email": "cy@example.com", "role": "viewer"}, expect=201)


async def invite_revoke(w: Walk) -> None:
    answer = await w.ok(w.ada, "POST", w.ws("/invites"), {"email": "dan@example.com", "role": "viewer"},
                        expect=201)
    assert isinstance(answer, dict)
    await w.ok(w.ada, "DELETE", w.ws(f"/invites/{answer['invite']['id']}"))


async def invite_accept(w: Walk) -> None:
    link = await w.ada.client.link("cy@example.com", "", "/invites/")
    w.people["cy"] = await w.h.person("cy@example.com", "Cy")
    await w.ok(w.people["cy"], "POST", "/api/v1/invites/accept", {"token": urlsplit(link).path.rsplit("/", 1)[1]})


async def settings_update(w: Walk) -> None:
    await w.ok(w.ada, "PUT", w.ws("/settings"), {"SERVICE_TOKEN": "secret-value-123"})


async def settings_delete(w: Walk) -> None:
    await w.ok(w.ada, "DELETE", w.ws("/settings/SERVICE_TOKEN"))


async def runtime_retry(w: Walk) -> None:
    w.h.set_provisioner(w.provisioner)
    w.provisioner.fail_with = "disk full"
    await w.ok(w.ada, "PUT", w.ws(), {"name": "Team three"})  # (no provisioning on rename)
    failing = await w.ok(w.ada, "POST", "/api/v1/workspaces", {"name": "Provisioned"}, expect=500)
    assert isinstance(failing, dict) and failing["code"] == "provision_failed"
    created = await w.h.backend.audit.search(action="workspace.create", user_id=w.ada.id)
    provisioned = next(e.workspace_id for e in created if e.details.get("name") == "Provisioned")
    w.provisioner.fail_with = None
    await w.ok(w.ada, "POST", f"/api/v1/workspaces/{provisioned}/runtime/retry")
    w.h.set_provisioner(None)


async def workspace_delete(w: Walk) -> None:
    await w.ok(w.ada, "DELETE", w.ws())


async def credits_grant(w: Walk) -> None:
    await w.ok(w.ada, "GET", "/api/credits/balance")


async def credits_purchase(w: Walk) -> None:
    answer = await w.ok(w.ada, "POST", "/api/credits/checkout", {"pack": "10"})
    assert isinstance(answer, dict)
    w.ids["checkout"] = parse_qs(urlsplit(answer["url"]).query)["checkout"][0]
    await w.ok(w.ada, "POST", f"/api/credits/dev/checkouts/{w.ids['checkout']}/complete", {})


async def credits_refund(w: Walk) -> None:
    await w.ok(w.ada, "POST", f"/api/credits/dev/checkouts/{w.ids['checkout']}/refund", {})


async def account_delete(w: Walk) -> None:
    await w.ok(w.ada, "DELETE", "/api/v1/me", {"confirm": "ada@example.com"})


#: (action, the step that does it, who the actor is: a person's name, or None for the system)
TABLE: list[tuple[str, Step, str | None]] = [
    ("auth.sign_up", sign_up, "ada"), ("auth.email_verify", email_verify, "ada"),
    ("auth.sign_out", sign_out, "ada"), ("auth.sign_in_failed", sign_in_failed, None),
    ("auth.sign_in", sign_in, "ada"), ("auth.password_change", password_change, "ada"),
    ("auth.session_revoke", session_revoke, "ada"), ("auth.password_reset", password_reset, "ada"),
    ("workspace.create", workspace_create, "ada"), ("workspace.update", workspace_update, "ada"),
    ("member.add", member_add, "ada"), ("member.role_change", member_role_change, "ada"),
    ("member.remove", member_remove, "ada"), ("invite.create", invite_create, "ada"),
    ("invite.revoke", invite_revoke, "ada"), ("invite.accept", invite_accept, "cy"),
    ("settings.update", settings_update, "ada"), ("settings.delete", settings_delete, "ada"),
    ("runtime.retry", runtime_retry, "ada"), ("workspace.delete", workspace_delete, "ada"),
    ("credits.grant", credits_grant, None), ("credits.purchase", credits_purchase, None),
    ("credits.refund", credits_refund, None), ("account.delete", account_delete, "ada"),
]


def test_the_table_covers_every_action() -> None:
    assert sorted(action for action, _, _ in TABLE) == sorted(ACTIONS)
    assert len(TABLE) == 24


@pytest.fixture
async def walk(aiohttp_client: AiohttpClient, backend: Backend, clock: ManualClock) -> Walk:
    return Walk(await open_harness(aiohttp_client, backend, clock, mail=True))


async def test_every_action_is_written_by_its_http_flow(walk: Walk) -> None:
    seen: set[str] = set()
    for action, step, actor in TABLE:
        walk.h.clock.advance(seconds=1)
        await step(walk)
        await walk.ada.client.drain()
        new = [e for e in await walk.h.backend.audit.search(limit=10_000) if e.id not in seen]
        seen |= {e.id for e in new}
        matching: list[AuditEvent] = [e for e in new if e.action == action]
        assert matching, (action, sorted(e.action for e in new))
        event = matching[0]
        expected_actor = walk.people[actor].id if actor else None
        assert event.actor_id == expected_actor, (action, event)
        assert event.request_id and event.ip == "127.0.0.1", (action, event)
        assert "secret-value-123" not in repr(event)
