-- Destinations: where the relay forwards. body holds url, description,
-- format and filter; the secret signs what is sent (generated, shown once);
-- a rotated secret stays valid until previous_until. failing_since is the
-- first failure since the last delivery (five days of it disables).
CREATE TABLE IF NOT EXISTS destinations (
  id              TEXT PRIMARY KEY,
  body            TEXT NOT NULL,
  secret          TEXT NOT NULL,
  previous_secret TEXT,
  previous_until  INTEGER,
  enabled         INTEGER NOT NULL DEFAULT 1,
  disabled_reason TEXT,
  failing_since   INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);

-- Every authenticated delivery's body, exactly as it arrived (keyed by its
-- SHA-256, so a redelivery is one row), for `meta` forwards and replay;
-- kept RAW_RETENTION_DAYS. raw_ref as for events (split or in R2).
CREATE TABLE IF NOT EXISTS deliveries (
  id           TEXT PRIMARY KEY,
  raw          TEXT NOT NULL,
  raw_encoding TEXT NOT NULL,
  raw_ref      TEXT,
  channel      TEXT,
  received_at  INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS deliveries_by_time ON deliveries (received_at);
-- The identifiers a delivery names, so erasure finds it.
CREATE TABLE IF NOT EXISTS delivery_contacts (
  identifier  TEXT NOT NULL,
  delivery_id TEXT NOT NULL,
  PRIMARY KEY (identifier, delivery_id)
);

-- One event per item for `events` destinations; its data is the read-API
-- view of `ref` when sent.
CREATE TABLE IF NOT EXISTS relay_events (
  id              TEXT PRIMARY KEY,
  type            TEXT NOT NULL,
  field           TEXT NOT NULL,
  phone_number_id TEXT,
  statuses        INTEGER,
  ref             TEXT NOT NULL,
  at              INTEGER NOT NULL,
  received_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS relay_events_by_time ON relay_events (received_at);

-- One row per (delivery or event, destination): its id is the webhook-id a
-- receiver deduplicates by.
CREATE TABLE IF NOT EXISTS forwards (
  id              TEXT PRIMARY KEY,
  destination_id  TEXT NOT NULL,
  source          TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'pending'
                  CHECK (state IN ('pending', 'sending', 'delivered', 'retrying', 'dead')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER NOT NULL DEFAULT 0,
  last_status     INTEGER,
  last_error      TEXT,
  latency_ms      INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  UNIQUE (destination_id, source)
);
CREATE INDEX IF NOT EXISTS forwards_due ON forwards (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS forwards_by_destination ON forwards (destination_id, state, updated_at DESC);
