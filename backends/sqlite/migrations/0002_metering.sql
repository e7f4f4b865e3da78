-- Credits ledger (docs/contract.md, "The ledger"), SQLite flavour of the Postgres migration with the same
-- names: INTEGER for bigint, booleans (0/1) and timestamps (epoch microseconds), TEXT for ids and JSON.
-- A per-user balance row is kept in step with every grant and debit (same transaction).

CREATE TABLE boring_credit_grants (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  amount_micros INTEGER NOT NULL CONSTRAINT boring_credit_grants_amount_check CHECK (amount_micros > 0),
  reason text NOT NULL,
  expires_at INTEGER,
  created_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX boring_credit_grants_user_reason_idx ON boring_credit_grants (user_id, reason);
-- the ledger view (newest grants of a user)
CREATE INDEX boring_credit_grants_user_created_idx ON boring_credit_grants (user_id, created_at);
-- the balance: only a user's expiring grants are summed live (perpetual ones are in the balance row)
CREATE INDEX boring_credit_grants_user_expiring_idx ON boring_credit_grants (user_id, expires_at)
  WHERE expires_at IS NOT NULL;

CREATE TABLE boring_credit_purchases (
  order_id text PRIMARY KEY,
  user_id text,
  amount_micros INTEGER
    CONSTRAINT boring_credit_purchases_amount_check CHECK (amount_micros IS NULL OR amount_micros > 0),
  status text NOT NULL DEFAULT 'granted'
    CONSTRAINT boring_credit_purchases_status_check
    CHECK (status IN ('granted', 'refunded', 'refund_pending')),
  source text NOT NULL DEFAULT 'lemonsqueezy',
  created_at INTEGER NOT NULL,
  refunded_at INTEGER,
  refunded_micros INTEGER,
  pending_refund_ppm INTEGER,
  store_id text,
  test_mode INTEGER,
  currency text,
  variant_id text,
  CONSTRAINT boring_credit_purchases_granted_check
    CHECK (status IN ('refunded', 'refund_pending') OR (user_id IS NOT NULL AND amount_micros IS NOT NULL))
);
CREATE INDEX boring_credit_purchases_user_idx ON boring_credit_purchases (user_id);

CREATE TABLE boring_usage_reservations (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  workspace_id text,
  session_id text,
  run_id text NOT NULL,
  source text NOT NULL DEFAULT '',
  amount_micros INTEGER NOT NULL CONSTRAINT boring_usage_reservations_amount_check CHECK (amount_micros > 0),
  status text NOT NULL DEFAULT 'active'
    CONSTRAINT boring_usage_reservations_status_check
    CHECK (status IN ('active', 'settled', 'released', 'expired')),
  charge_on_expire INTEGER NOT NULL DEFAULT 0,
  created_at INTEGER NOT NULL,
  expires_at INTEGER NOT NULL
);
CREATE UNIQUE INDEX boring_usage_reservations_active_run_idx ON boring_usage_reservations (run_id)
  WHERE status = 'active';
CREATE INDEX boring_usage_reservations_user_status_idx
  ON boring_usage_reservations (user_id, status, expires_at);
-- finish by (run, user) also matches expired rows
CREATE INDEX boring_usage_reservations_user_run_idx ON boring_usage_reservations (user_id, run_id);
-- the global sweep: which users have past-TTL active holds
CREATE INDEX boring_usage_reservations_active_expires_idx ON boring_usage_reservations (expires_at)
  WHERE status = 'active';

CREATE TABLE boring_usage_ledger (
  id text PRIMARY KEY,
  user_id text NOT NULL,
  workspace_id text,
  session_id text,
  run_id text,
  message_id text,
  source text NOT NULL DEFAULT '',
  provider text,
  model text,
  input_tokens INTEGER NOT NULL DEFAULT 0,
  output_tokens INTEGER NOT NULL DEFAULT 0,
  cache_read_tokens INTEGER NOT NULL DEFAULT 0,
  cache_write_tokens INTEGER NOT NULL DEFAULT 0,
  provider_cost_micros INTEGER NOT NULL DEFAULT 0,
  billed_cost_micros INTEGER NOT NULL
    CONSTRAINT boring_usage_ledger_billed_check CHECK (billed_cost_micros >= 0),
  stop_reason text,
  metadata TEXT NOT NULL DEFAULT '{}',
  -- metadata->>'reservationId', kept as a column so every backend indexes and compares it the same way
  reservation_id text,
  created_at INTEGER NOT NULL,
  CONSTRAINT boring_usage_ledger_tokens_check CHECK (
    input_tokens >= 0 AND output_tokens >= 0 AND cache_read_tokens >= 0 AND cache_write_tokens >= 0
    AND provider_cost_micros >= 0)
);
CREATE INDEX boring_usage_ledger_user_created_idx ON boring_usage_ledger (user_id, created_at);
CREATE INDEX boring_usage_ledger_run_idx ON boring_usage_ledger (run_id);
CREATE INDEX boring_usage_ledger_user_reservation_idx ON boring_usage_ledger (user_id, reservation_id)
  WHERE reservation_id IS NOT NULL;
-- the ledger view lists billed rows only: filter before the LIMIT without walking zero rows
CREATE INDEX boring_usage_ledger_user_billed_created_idx ON boring_usage_ledger (user_id, created_at, id)
  WHERE billed_cost_micros > 0;

-- Maintained per-user totals. perpetual_granted_micros = sum of the user's grants without expiry,
-- used_micros = sum of every ledger billed_cost_micros. Both only grow, and saturate at 2^62 (every
-- total above 2^53-1 fails closed as out of range anyway). Expiring grants and live holds are summed at
-- read time through the partial indexes above, so a balance is exact at any "now".
CREATE TABLE boring_credit_balances (
  user_id text PRIMARY KEY,
  perpetual_granted_micros INTEGER NOT NULL DEFAULT 0
    CONSTRAINT boring_credit_balances_granted_check CHECK (perpetual_granted_micros >= 0),
  used_micros INTEGER NOT NULL DEFAULT 0
    CONSTRAINT boring_credit_balances_used_check CHECK (used_micros >= 0),
  updated_at INTEGER NOT NULL
);
