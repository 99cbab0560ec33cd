-- Messages, in both directions. Inbound rows use the wamid as id.
CREATE TABLE IF NOT EXISTS messages (
  id                   TEXT PRIMARY KEY,
  wamid                TEXT UNIQUE,
  direction            TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  phone_number_id      TEXT,
  display_phone_number TEXT,
  wa_id                TEXT NOT NULL,
  type                 TEXT NOT NULL,
  timestamp            INTEGER NOT NULL,
  text                 TEXT,
  reply_id             TEXT,
  context_id           TEXT,
  raw                  TEXT NOT NULL,
  received_at          INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS messages_by_contact ON messages (wa_id, timestamp DESC, id DESC);

-- Every status reported for a message, once each. The current status is the
-- highest rank; history is ordered by timestamp.
CREATE TABLE IF NOT EXISTS statuses (
  wamid                 TEXT NOT NULL,
  status                TEXT NOT NULL,
  rank                  INTEGER NOT NULL,
  timestamp             INTEGER NOT NULL,
  recipient_id          TEXT,
  phone_number_id       TEXT,
  conversation_id       TEXT,
  conversation_category TEXT,
  pricing_category      TEXT,
  billable              INTEGER,
  errors                TEXT,
  raw                   TEXT NOT NULL,
  received_at           INTEGER NOT NULL,
  PRIMARY KEY (wamid, status)
);

CREATE TABLE IF NOT EXISTS contacts (
  wa_id           TEXT PRIMARY KEY,
  profile_name    TEXT,
  phone_number_id TEXT,
  first_seen      INTEGER NOT NULL,
  last_seen       INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contacts_by_last_seen ON contacts (last_seen DESC, wa_id DESC);

-- Other webhook fields, value-level errors, malformed items and dead letters.
CREATE TABLE IF NOT EXISTS events (
  id              TEXT PRIMARY KEY,
  kind            TEXT NOT NULL,
  waba_id         TEXT,
  phone_number_id TEXT,
  reference       TEXT,
  summary         TEXT,
  raw             TEXT NOT NULL,
  raw_encoding    TEXT NOT NULL DEFAULT 'json',
  received_at     INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS events_by_kind ON events (kind, received_at DESC, id DESC);
CREATE INDEX IF NOT EXISTS events_by_time ON events (received_at DESC, id DESC);
