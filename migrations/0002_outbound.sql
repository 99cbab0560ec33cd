-- Last inbound message per contact and channel: the 24-hour window.
CREATE TABLE IF NOT EXISTS windows (
  wa_id           TEXT NOT NULL,
  phone_number_id TEXT NOT NULL,
  last_inbound_at INTEGER NOT NULL,
  updated_at      INTEGER,
  PRIMARY KEY (wa_id, phone_number_id)
);

-- Every outbound message, written before any attempt to send it.
CREATE TABLE IF NOT EXISTS outbox (
  id              TEXT PRIMARY KEY,
  phone_number_id TEXT NOT NULL,
  wa_id           TEXT NOT NULL,
  -- 'message' (a message to send) or 'mark_read' (blue ticks for an inbound one)
  kind            TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'mark_read')),
  payload         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'failed')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER NOT NULL DEFAULT 0,
  wamid           TEXT,
  last_error      TEXT,
  last_error_code INTEGER,
  source          TEXT NOT NULL,
  -- 'idem:<Idempotency-Key>' for API sends, 'reply:<inbound wamid>' for rule
  -- replies: a second insert with the same key is a no-op.
  dedupe_key      TEXT UNIQUE,
  request_hash    TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);

-- Channels whose credential Graph refused.
CREATE TABLE IF NOT EXISTS channel_alerts (
  phone_number_id TEXT PRIMARY KEY,
  auth_failed_at  INTEGER NOT NULL,
  error           TEXT
);

-- Auto-reply rules, edited through /v1/rules.
CREATE TABLE IF NOT EXISTS rules (
  id         TEXT PRIMARY KEY,
  priority   INTEGER NOT NULL,
  body       TEXT NOT NULL,
  created_at INTEGER NOT NULL,
  updated_at INTEGER NOT NULL
);

-- Opt-out: STOP/UNSUBSCRIBE (or Meta's marketing stop) sets it, START clears it.
ALTER TABLE contacts ADD COLUMN opted_out INTEGER NOT NULL DEFAULT 0;
-- When the opt state last changed (message time), so a late redelivery of an
-- older STOP or START cannot undo a newer one.
ALTER TABLE contacts ADD COLUMN opt_changed_at INTEGER;
