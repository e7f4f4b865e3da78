-- The identity version: every write to what a request's identity is built from (sessions updated or
-- deleted, users updated or deleted, per-app user settings, workspace memberships and workspaces) bumps a counter and
-- sends a notification on channel 'localcore_identity', both from the writing transaction (the
-- notification is delivered when it commits, and never if it rolls back). A process caches identities,
-- LISTENs on a connection of its own and drops the cache on every notification; after (re)connecting
-- it compares the counter with the last value it saw. The counter is a sequence, not a row: nextval takes
-- no row lock, so concurrent writers never queue (or deadlock) on it; a rolled-back write still advances
-- it, which costs one needless cache drop and never a stale read. A new session needs no bump: nothing
-- cached can refer to it. Statement-level triggers keep the bump inside every writing transaction without
-- any store method having to remember it.
CREATE SEQUENCE identity_version_seq;

CREATE FUNCTION identity_version_bump() RETURNS trigger LANGUAGE plpgsql AS $$
BEGIN
  PERFORM nextval('identity_version_seq');
  PERFORM pg_notify('localcore_identity', '');
  RETURN NULL;
END
$$;

CREATE TRIGGER identity_version_sessions AFTER UPDATE OR DELETE ON sessions
  FOR EACH STATEMENT EXECUTE FUNCTION identity_version_bump();
CREATE TRIGGER identity_version_users AFTER UPDATE OR DELETE ON users
  FOR EACH STATEMENT EXECUTE FUNCTION identity_version_bump();
CREATE TRIGGER identity_version_settings AFTER INSERT OR UPDATE OR DELETE ON user_settings
  FOR EACH STATEMENT EXECUTE FUNCTION identity_version_bump();
CREATE TRIGGER identity_version_members AFTER INSERT OR UPDATE OR DELETE ON workspace_members
  FOR EACH STATEMENT EXECUTE FUNCTION identity_version_bump();
-- Workspaces too (created, renamed, soft-deleted): a member's list and role lookups are cached with the rest.
CREATE TRIGGER identity_version_workspaces AFTER INSERT OR UPDATE OR DELETE ON workspaces
  FOR EACH STATEMENT EXECUTE FUNCTION identity_version_bump();
