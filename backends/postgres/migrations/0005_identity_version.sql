-- The identity version: one counter row that every transaction writing what a request's identity is built
-- from (sessions updated or deleted, users updated or deleted, per-app user settings, workspace memberships
-- and workspaces) bumps once, inside that transaction. A process caches identities tagged with the value it
-- read *before* reading them, and re-reads this committed row for every request it serves (coalesced: one
-- read serves every request that arrived before it started), so a change any process committed before the
-- request arrived is seen. A row and not a sequence: nextval is visible before the writer commits, so a
-- reader could tag pre-change data with the post-change number and keep it. A new session needs no bump:
-- nothing cached can refer to it.
--
-- The triggers are deferred constraint triggers: the bump runs at commit, after every other statement of the
-- transaction, so the row lock is taken last and held only through the commit itself. Writers therefore
-- queue on it only for that instant and can never deadlock on it (a writer holding the counter is not waiting
-- for any other lock). The transaction-local flag makes it one bump per transaction however many rows change.
CREATE TABLE identity_version (
  id INTEGER PRIMARY KEY CHECK (id = 1),
  version BIGINT NOT NULL
);
INSERT INTO identity_version (id, version) VALUES (1, 0);

CREATE FUNCTION identity_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  IF current_setting('localcore.identity_bumped', true) IS DISTINCT FROM 'on' THEN
    PERFORM set_config('localcore.identity_bumped', 'on', true);
    UPDATE identity_version SET version = version + 1 WHERE id = 1;
  END IF;
  RETURN NULL;
END
$$;

CREATE CONSTRAINT TRIGGER identity_version_sessions AFTER UPDATE OR DELETE ON sessions
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
CREATE CONSTRAINT TRIGGER identity_version_users AFTER UPDATE OR DELETE ON users
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
CREATE CONSTRAINT TRIGGER identity_version_settings AFTER INSERT OR UPDATE OR DELETE ON user_settings
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
CREATE CONSTRAINT TRIGGER identity_version_members AFTER INSERT OR UPDATE OR DELETE ON workspace_members
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
-- Workspaces too (created, renamed, soft-deleted): a member's list and role lookups are cached with the rest.
CREATE CONSTRAINT TRIGGER identity_version_workspaces AFTER INSERT OR UPDATE OR DELETE ON workspaces
  DEFERRABLE INITIALLY DEFERRED FOR EACH ROW EXECUTE FUNCTION identity_version_bump();
