-- The audit log. No foreign keys: an event outlives the workspace or user it names (an account deletion
-- keeps workspace events with their actor id; retention sweeps them). details is small JSON text.
CREATE TABLE audit_events (
  id text PRIMARY KEY,
  action text NOT NULL,
  actor_id text,
  workspace_id text,
  target_type text,
  target_id text,
  details text NOT NULL DEFAULT '{}',
  ip text,
  user_agent text,
  request_id text,
  created_at INTEGER NOT NULL
);
CREATE INDEX audit_events_workspace_idx ON audit_events (workspace_id, created_at, id);
CREATE INDEX audit_events_actor_idx ON audit_events (actor_id, created_at, id);
CREATE INDEX audit_events_target_idx ON audit_events (target_id, created_at, id);
CREATE INDEX audit_events_created_idx ON audit_events (created_at, id);
