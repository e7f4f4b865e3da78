-- The identity version: one counter that every write to what a request's identity is built from bumps in
-- the same transaction (sessions updated or deleted, users updated or deleted, per-app user settings,
-- workspace memberships). A process caches identities and reads this one row per request; a different
-- value means something changed somewhere and the cache is dropped. A new session needs no bump: nothing
-- cached can refer to it. Triggers keep the bump inside the writing transaction without any store method
-- having to remember it.
CREATE TABLE identity_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version INTEGER NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 0);

CREATE TRIGGER identity_version_sessions_update AFTER UPDATE ON sessions
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_sessions_delete AFTER DELETE ON sessions
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_users_update AFTER UPDATE ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_users_delete AFTER DELETE ON users
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_settings_insert AFTER INSERT ON user_settings
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_settings_update AFTER UPDATE ON user_settings
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_settings_delete AFTER DELETE ON user_settings
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_members_insert AFTER INSERT ON workspace_members
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_members_update AFTER UPDATE ON workspace_members
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_members_delete AFTER DELETE ON workspace_members
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
-- Workspaces too (created, renamed, soft-deleted): a member's list and role lookups are cached with the rest.
CREATE TRIGGER identity_version_workspaces_insert AFTER INSERT ON workspaces
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_workspaces_update AFTER UPDATE ON workspaces
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
CREATE TRIGGER identity_version_workspaces_delete AFTER DELETE ON workspaces
BEGIN UPDATE identity_version SET version = version + 1 WHERE id = 1; END;
