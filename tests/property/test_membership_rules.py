"""A hypothesis state machine over workspace membership, run on memory, SQLite and Postgres in lockstep.

Random direct adds, role changes and removals (with and without an acting user), invite acceptances (right
and wrong email) are applied to every backend and to a plain-dict model of the role rules. Each
step must give the model's answer on every backend (the same role, or the same refusal code), and after
every step, on every backend:

- the workspace has at least one owner (the last-owner rule);
- the members and roles equal the model's (so accepting an invite never lowered a role: docs/compatibility.md, fix 6).

Postgres joins when a server is available (as in the ledger machine); memory and SQLite always run.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, ClassVar

import pytest
from hypothesis import strategies as st
from hypothesis.stateful import RuleBasedStateMachine, initialize, invariant, rule

from localcore.clock import ManualClock
from localcore.store import ROLE_LEVEL, Backend, ConstraintViolation, InviteError, MembershipError
from localcore.testing.workspace_support import raw_workspaces
from tests.property.lockstep import run_in_lockstep

PEOPLE = 4
ROLES = ("owner", "editor", "viewer")
people = st.integers(min_value=0, max_value=PEOPLE - 1)
roles = st.sampled_from(ROLES)


@dataclass(frozen=True)
class Outcome:
    value: Any = None
    error: str | None = None


class MembershipMachine(RuleBasedStateMachine):
    loop: ClassVar[asyncio.AbstractEventLoop]
    backends: ClassVar[dict[str, Backend]]
    clock: ClassVar[ManualClock]
    examples: ClassVar[Iterator[int]]

    def __init__(self) -> None:
        super().__init__()
        self.n = next(self.examples)
        self.model: dict[int, str] = {}
        self.users: dict[str, list[str]] = {}  # backend -> person index -> user id
        self.workspace: dict[str, str] = {}  # backend -> workspace id

    # ------------------------------------------------------------------ plumbing

    def run(self, call: Callable[[str, Backend], Awaitable[Any]]) -> Outcome:
        async def one(name: str, backend: Backend) -> Outcome:
            try:
                return Outcome(value=await call(name, backend))
            except (MembershipError, InviteError) as exc:
                return Outcome(error=exc.code)
            except ConstraintViolation as exc:
                return Outcome(error=exc.kind)

        results = {name: self.loop.run_until_complete(one(name, b)) for name, b in self.backends.items()}
        first = next(iter(results.values()))
        assert all(r == first for r in results.values()), results
        return first

    def owners(self) -> int:
        return sum(1 for role in self.model.values() if role == "owner")

    def email(self, person: int) -> str:
        return f"m{self.n}-p{person}@example.com"

    # ------------------------------------------------------------------ rules

    @initialize()
    def start(self) -> None:
        async def setup(name: str, backend: Backend) -> None:
            ids = [(await backend.users.create_user(email=self.email(p))).id for p in range(PEOPLE)]
            workspace = await backend.workspaces.create_workspace(user_id=ids[0], name="W", app_id="app")
            self.users[name], self.workspace[name] = ids, workspace.id

        self.run(setup)
        self.model = {0: "owner"}

    @rule(who=people, role=roles)
    def add(self, who: int, role: str) -> None:
        outcome = self.run(lambda name, b: self._role_of(b.workspaces.add_member(
            self.workspace[name], self.users[name][who], role)))
        if who in self.model:
            assert outcome.error == "unique"
        else:
            assert outcome == Outcome(value=role)
            self.model[who] = role

    @rule(actor=st.none() | people, who=people, role=roles)
    def change_role(self, actor: int | None, who: int, role: str) -> None:
        outcome = self.run(lambda name, b: self._role_of(b.workspaces.update_member_role(
            self.workspace[name], self.users[name][who], role,
            actor_id=None if actor is None else self.users[name][actor])))
        if actor is not None and self.model.get(actor) != "owner":
            expected = Outcome(error="forbidden")
        elif who not in self.model:
            expected = Outcome(error="not_member")
        elif self.model[who] == "owner" and role != "owner" and self.owners() <= 1:
            expected = Outcome(error="last_owner")
        else:
            expected = Outcome(value=role)
            self.model[who] = role
        assert outcome == expected

    @rule(actor=st.none() | people, who=people)
    def remove(self, actor: int | None, who: int) -> None:
        outcome = self.run(lambda name, b: b.workspaces.remove_member(
            self.workspace[name], self.users[name][who],
            actor_id=None if actor is None else self.users[name][actor]))
        if actor is not None and actor != who and self.model.get(actor) != "owner":
            expected = Outcome(error="forbidden")
        elif who not in self.model:
            expected = Outcome(error="not_member")
        elif self.model[who] == "owner" and self.owners() <= 1:
            expected = Outcome(error="last_owner")
        else:
            expected = Outcome()
            del self.model[who]
        assert outcome == expected

    @rule(invitee=people, accepter=people, role=roles)
    def accept_invite(self, invitee: int, accepter: int, role: str) -> None:
        async def invite_and_accept(name: str, backend: Backend) -> str:
            ws = backend.workspaces
            created = await ws.create_invite(self.workspace[name], email=self.email(invitee).upper(), role=role,
                                             invited_by=self.users[name][0])
            accepted = await ws.accept_invite(self.workspace[name], created.invite.id, self.users[name][accepter])
            return accepted.member.role

        outcome = self.run(invite_and_accept)
        if invitee != accepter:
            assert outcome == Outcome(error="invite_email_mismatch")
            return
        current = self.model.get(accepter)
        joined = role if current is None or ROLE_LEVEL[role] > ROLE_LEVEL[current] else current
        assert outcome == Outcome(value=joined)
        self.model[accepter] = joined

    # ------------------------------------------------------------------ invariants

    @invariant()
    def keeps_an_owner_and_matches_the_model(self) -> None:
        if not self.workspace:
            return

        async def roles_of(name: str, backend: Backend) -> dict[str, str]:
            return {m.user_id: m.role for m in await raw_workspaces(backend).list_members(self.workspace[name])}

        for name, backend in self.backends.items():
            found = self.loop.run_until_complete(roles_of(name, backend))
            assert list(found.values()).count("owner") >= 1, (name, found)
            assert found == {self.users[name][p]: role for p, role in self.model.items()}, (name, found)

    @staticmethod
    async def _role_of(pending: Awaitable[Any]) -> str:
        return str((await pending).role)


def test_membership_state_machine(request: pytest.FixtureRequest, tmp_path: Path) -> None:
    run_in_lockstep(MembershipMachine, request, tmp_path, "members.db", steps=20)
