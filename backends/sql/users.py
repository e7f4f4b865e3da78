"""Users and the account deletion in SQL (``UserStore``); the contract is the Protocol's docstrings in
``localcore.contract.users``. Audited writes insert their event in their own transaction."""

from __future__ import annotations

from typing import Any

from backends.sql.audit import delete_personal_events, insert_audit
from backends.sql.db import Database, Executor, Row, json_column
from localcore.contract import rules_membership as rules
from localcore.contract.audit import AuditRecord
from localcore.contract.clock import Clock
from localcore.contract.errors import ConstraintViolation, DuplicateEmail
from localcore.contract.ids import is_uuid, new_id
from localcore.contract.users import Account, User, UserSettings, normalize_email, user_lock_key

_USER_COLUMNS = "u.id, u.email, u.name, u.email_verified, u.image, u.created_at, u.updated_at"


def _user(row: Row, prefix: str = "") -> User:
    return User(
        id=row[f"{prefix}id"], email=row[f"{prefix}email"], name=row[f"{prefix}name"],
        email_verified=bool(row[f"{prefix}email_verified"]), image=row[f"{prefix}image"],
        created_at=row[f"{prefix}created_at"], updated_at=row[f"{prefix}updated_at"],
    )


def _account(row: Row) -> Account:
    return Account(
        id=row["id"], user_id=row["user_id"], provider_id=row["provider_id"], account_id=row["account_id"],
        password_hash=row["password"], created_at=row["created_at"], updated_at=row["updated_at"],
    )


class SqlUserStore:
    def __init__(self, db: Database, clock: Clock) -> None:
        self.db = db
        self.clock = clock

    async def create_user(self, *, email: str, name: str = "", image: str | None = None,
                          email_verified: bool = False, password_hash: str | None = None,
                          audit: AuditRecord | None = None) -> User:
        now = self.clock()
        user_id = new_id()
        try:
            async with self.db.transaction() as tx:
                row = await tx.fetchrow(
                    "INSERT INTO users (id, email, name, email_verified, image, created_at, updated_at) "
                    "VALUES ($1, $2, $3, $4, $5, $6, $6) "
                    "RETURNING id, email, name, email_verified, image, created_at, updated_at",
                    user_id, normalize_email(email), name, email_verified, image, now,
                )
                if password_hash is not None:
                    await tx.execute(
                        "INSERT INTO accounts (id, account_id, provider_id, user_id, password, created_at, "
                        "updated_at) VALUES ($1, $2, 'credential', $2, $3, $4, $4)",
                        new_id(), user_id, password_hash, now)
                if audit is not None:
                    await insert_audit(tx, self.clock, audit.completed(actor_id=user_id, target_type="user",
                                                                       target_id=user_id))
        except ConstraintViolation as exc:
            if exc.kind == "unique":
                raise DuplicateEmail() from None
            raise
        assert row is not None
        return _user(row)

    async def get_user(self, user_id: str) -> User | None:
        if not is_uuid(user_id):
            return None
        row = await self.db.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.id = $1", user_id)
        return _user(row) if row else None

    async def get_user_by_email(self, email: str) -> User | None:
        row = await self.db.fetchrow(f"SELECT {_USER_COLUMNS} FROM users u WHERE u.email = $1",
                                     normalize_email(email))
        return _user(row) if row else None

    async def update_user(self, user_id: str, *, name: str | None = None, image: str | None = None,
                          email: str | None = None, email_verified: bool | None = None,
                          clear_image: bool = False, audit: AuditRecord | None = None) -> User | None:
        if not is_uuid(user_id):
            return None
        sets = ["updated_at = $2"]
        args: list[Any] = [user_id, self.clock()]
        for column, value in (("name", name), ("image", image), ("email_verified", email_verified),
                              ("email", normalize_email(email) if email is not None else None)):
            if value is not None:
                args.append(value)
                sets.append(f"{column} = ${len(args)}")
        if clear_image and image is None:
            sets.append("image = NULL")
        try:
            async with self.db.transaction() as tx:
                row = await tx.fetchrow(
                    f"UPDATE users SET {', '.join(sets)} WHERE id = $1 "
                    "RETURNING id, email, name, email_verified, image, created_at, updated_at", *args)
                if row is not None:
                    await insert_audit(tx, self.clock, audit)
        except ConstraintViolation as exc:
            if exc.kind == "unique":
                raise DuplicateEmail() from None
            raise
        return _user(row) if row else None

    async def count_users(self) -> int:
        return int(await self.db.fetchval("SELECT count(*) AS n FROM users"))

    async def link_account(self, *, user_id: str, provider_id: str, account_id: str,
                           password_hash: str | None = None) -> Account:
        if not is_uuid(user_id):
            raise ConstraintViolation("foreign_key", "unknown user")
        now = self.clock()
        async with self.db.transaction() as tx:
            row = await tx.fetchrow(
                "INSERT INTO accounts (id, account_id, provider_id, user_id, password, created_at, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6, $6) "
                "RETURNING id, account_id, provider_id, user_id, password, created_at, updated_at",
                new_id(), account_id, provider_id, user_id, password_hash, now,
            )
        assert row is not None
        return _account(row)

    async def get_account(self, provider_id: str, account_id: str) -> Account | None:
        row = await self.db.fetchrow(
            "SELECT id, account_id, provider_id, user_id, password, created_at, updated_at FROM accounts "
            "WHERE provider_id = $1 AND account_id = $2", provider_id, account_id)
        return _account(row) if row else None

    async def get_credential(self, user_id: str) -> Account | None:
        if not is_uuid(user_id):
            return None
        row = await self.db.fetchrow(
            "SELECT id, account_id, provider_id, user_id, password, created_at, updated_at FROM accounts "
            "WHERE user_id = $1 AND provider_id = 'credential'", user_id)
        return _account(row) if row else None

    async def set_password_hash(self, user_id: str, password_hash: str, *,
                                audit: AuditRecord | None = None) -> None:
        now = self.clock()
        async with self.db.transaction() as tx:
            changed = await tx.execute(
                "UPDATE accounts SET password = $2, updated_at = $3 "
                "WHERE user_id = $1 AND provider_id = 'credential'", user_id, password_hash, now)
            if not changed:
                await tx.execute(
                    "INSERT INTO accounts (id, account_id, provider_id, user_id, password, created_at, "
                    "updated_at) VALUES ($1, $2, 'credential', $2, $3, $4, $4)",
                    new_id(), user_id, password_hash, now)
            await insert_audit(tx, self.clock, audit)

    async def unlink_account(self, user_id: str, provider_id: str) -> bool:
        if not is_uuid(user_id):
            return False
        async with self.db.transaction() as tx:
            return await tx.execute("DELETE FROM accounts WHERE user_id = $1 AND provider_id = $2",
                                    user_id, provider_id) > 0

    async def get_user_settings(self, user_id: str, app_id: str) -> UserSettings:
        if not is_uuid(user_id):
            return UserSettings(display_name="", email="", settings={})
        row = await self.db.fetchrow(
            "SELECT s.display_name, s.email AS s_email, s.settings, u.name, u.email "
            "FROM users u LEFT JOIN user_settings s ON s.user_id = u.id AND s.app_id = $2 WHERE u.id = $1",
            user_id, app_id)
        if row is None:
            return UserSettings(display_name="", email="", settings={})
        if row["display_name"] is None:
            return UserSettings(display_name=row["name"] or "", email=row["email"] or "", settings={})
        return UserSettings(display_name=row["display_name"], email=row["s_email"],
                            settings=json_column(row["settings"]) or {})

    async def put_user_settings(self, user_id: str, app_id: str, *, display_name: str | None = None,
                                email: str | None = None,
                                settings: dict[str, Any] | None = None) -> UserSettings:
        current = await self.get_user_settings(user_id, app_id)
        merged = UserSettings(
            display_name=current.display_name if display_name is None else display_name,
            email=current.email if email is None else email,
            settings=current.settings if settings is None else settings,
        )
        async with self.db.transaction() as tx:
            await tx.execute(
                "INSERT INTO user_settings (user_id, app_id, display_name, email, settings, updated_at) "
                "VALUES ($1, $2, $3, $4, $5, $6) ON CONFLICT (user_id, app_id) DO UPDATE SET "
                "display_name = excluded.display_name, email = excluded.email, "
                "settings = excluded.settings, updated_at = excluded.updated_at",
                user_id, app_id, merged.display_name, merged.email,
                merged.settings, self.clock())
        return merged

    async def delete_user_completely(self, user_id: str, *, audit: AuditRecord | None = None) -> bool:
        if not is_uuid(user_id):
            return False
        async with self.db.transaction() as tx:
            # The ledger's user lock: no reservation, usage or grant of this user interleaves with the
            # deletion (one would otherwise leave credit rows behind for a user who no longer exists).
            await self.db.lock(tx, user_lock_key(user_id))
            if not await tx.fetchval("SELECT 1 FROM users WHERE id = $1", user_id):
                return False
            plan = rules.plan_account_deletion(user_id, await _workspace_facts(tx, user_id))
            await _delete_account(self.db, tx, user_id, plan)
            await delete_personal_events(tx, user_id)
            await insert_audit(tx, self.clock, audit and audit.completed(target_type="user", target_id=user_id))
        return True


async def _workspace_facts(tx: Executor, user_id: str) -> list[rules.WorkspaceFact]:
    """Every workspace the user is a member or the creator of, with its members locked (``FOR UPDATE``,
    in ``user_id`` order as the role changes lock them)."""
    rows = await tx.fetch(
        "SELECT id, created_by, deleted_at FROM workspaces WHERE created_by = $1 OR id IN "
        "(SELECT workspace_id FROM workspace_members WHERE user_id = $1) ORDER BY id", user_id)
    facts = []
    for row in rows:
        members = await tx.fetch("SELECT user_id, role, created_at FROM workspace_members WHERE workspace_id = $1 "
                                 "ORDER BY user_id FOR UPDATE", row["id"])
        facts.append(rules.WorkspaceFact(
            id=row["id"], created_by=row["created_by"], deleted=row["deleted_at"] is not None,
            members=tuple(rules.MemberFact(m["user_id"], m["role"], m["created_at"]) for m in members)))
    return facts


async def _hard_delete_workspace(tx: Executor, workspace_id: str) -> None:
    for table in ("workspace_invites", "workspace_settings", "workspace_runtimes", "workspace_members"):
        await tx.execute(f"DELETE FROM {table} WHERE workspace_id = $1", workspace_id)
    await tx.execute("DELETE FROM workspaces WHERE id = $1", workspace_id)


async def _delete_account(db: Database, tx: Executor, user_id: str, plan: rules.DeletionPlan) -> None:
    """Apply ``plan`` (see ``rules_membership.DeletionPlan``), then remove everything of the user, inside
    the caller's transaction."""
    for workspace_id, heir in plan.promotions:
        await tx.execute("UPDATE workspace_members SET role = 'owner' WHERE workspace_id = $1 AND user_id = $2",
                         workspace_id, heir)
        await tx.execute("UPDATE workspaces SET created_by = $2 WHERE id = $1", workspace_id, heir)
    for workspace_id, creator in plan.new_creators:
        await tx.execute("UPDATE workspaces SET created_by = $2 WHERE id = $1", workspace_id, creator)
    for workspace_id in plan.hard_deletes:
        await _hard_delete_workspace(tx, workspace_id)
    await tx.execute("DELETE FROM workspace_members WHERE user_id = $1", user_id)
    await tx.execute("DELETE FROM workspace_invites WHERE created_by = $1 AND accepted_at IS NULL", user_id)
    await tx.execute("UPDATE workspace_invites SET created_by = NULL WHERE created_by = $1", user_id)
    await tx.execute("DELETE FROM verification_tokens WHERE user_id = $1", user_id)
    for table in ("boring_usage_reservations", "boring_usage_ledger", "boring_credit_grants",
                  "boring_credit_purchases", "boring_credit_balances"):
        if await _table_exists(db, tx, table):
            await tx.execute(f"DELETE FROM {table} WHERE user_id = $1", user_id)
    await tx.execute("DELETE FROM users WHERE id = $1", user_id)


async def _table_exists(db: Database, tx: Executor, table: str) -> bool:
    if db.dialect == "postgres":
        return bool(await tx.fetchval("SELECT to_regclass($1) IS NOT NULL", table))
    return bool(await tx.fetchval("SELECT 1 FROM sqlite_master WHERE type = 'table' AND name = $1", table))
