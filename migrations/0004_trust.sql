-- The outbox gains the state 'unknown': an attempt whose outcome Graph never
-- told us (a 2xx without a message id, a timeout, a connection lost after
-- the request was written). Such a row is never resent; a status webhook
-- carrying its biz_opaque_callback_data resolves it. SQLite cannot alter a
-- CHECK constraint, so the table is rebuilt.
CREATE TABLE outbox_next (
  id              TEXT PRIMARY KEY,
  phone_number_id TEXT NOT NULL,
  wa_id           TEXT NOT NULL,
  kind            TEXT NOT NULL DEFAULT 'message' CHECK (kind IN ('message', 'mark_read')),
  payload         TEXT NOT NULL,
  state           TEXT NOT NULL DEFAULT 'queued'
                  CHECK (state IN ('queued', 'sending', 'sent', 'failed', 'unknown')),
  attempts        INTEGER NOT NULL DEFAULT 0,
  next_attempt_at INTEGER NOT NULL,
  lease_until     INTEGER NOT NULL DEFAULT 0,
  wamid           TEXT,
  last_error      TEXT,
  last_error_code INTEGER,
  source          TEXT NOT NULL,
  dedupe_key      TEXT UNIQUE,
  request_hash    TEXT,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);
INSERT INTO outbox_next (id, phone_number_id, wa_id, kind, payload, state, attempts,
  next_attempt_at, lease_until, wamid, last_error, last_error_code, source, dedupe_key,
  request_hash, created_at, updated_at)
SELECT id, phone_number_id, wa_id, kind, payload, state, attempts, next_attempt_at,
  lease_until, wamid, last_error, last_error_code, source, dedupe_key, request_hash,
  created_at, updated_at FROM outbox;
DROP TABLE outbox;
ALTER TABLE outbox_next RENAME TO outbox;
CREATE INDEX IF NOT EXISTS outbox_due ON outbox (state, next_attempt_at);
CREATE INDEX IF NOT EXISTS outbox_by_contact ON outbox (wa_id);

-- Opt-out state per (channel, contact): a STOP to one number does not
-- silence another. changed_at is the (clamped) message time of the change,
-- so a late redelivery of an older STOP or START cannot undo a newer one.
CREATE TABLE IF NOT EXISTS opt_outs (
  phone_number_id TEXT NOT NULL,
  wa_id           TEXT NOT NULL,
  opted_out       INTEGER NOT NULL,
  changed_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (phone_number_id, wa_id)
);
-- An opt-out recorded before channels were told apart applies to every
-- channel the contact has written to.
INSERT INTO opt_outs (phone_number_id, wa_id, opted_out, changed_at, updated_at)
SELECT ch.phone_number_id, c.wa_id, c.opted_out, c.opt_changed_at, c.updated_at
FROM contacts c
JOIN (SELECT wa_id, phone_number_id FROM windows
      UNION SELECT wa_id, phone_number_id FROM contacts WHERE phone_number_id IS NOT NULL) ch
  ON ch.wa_id = c.wa_id
WHERE c.opt_changed_at IS NOT NULL
ON CONFLICT DO NOTHING;
ALTER TABLE contacts DROP COLUMN opted_out;
ALTER TABLE contacts DROP COLUMN opt_changed_at;

-- When a template's stored status was decided (the webhook's entry time, or
-- the sync time), so a late redelivery of an older status changes nothing.
ALTER TABLE templates ADD COLUMN status_at INTEGER;

-- A raw body too big for one D1 row: where it lives instead. NULL when the
-- raw column holds it; 'parts' when split across raw_parts; 'r2:<key>' when
-- kept in the MEDIA bucket.
ALTER TABLE messages ADD COLUMN raw_ref TEXT;
ALTER TABLE statuses ADD COLUMN raw_ref TEXT;
ALTER TABLE events ADD COLUMN raw_ref TEXT;
CREATE TABLE IF NOT EXISTS raw_parts (
  owner TEXT NOT NULL,
  part  INTEGER NOT NULL,
  data  TEXT NOT NULL,
  PRIMARY KEY (owner, part)
);

-- The media id of an inbound image, audio, video, document or sticker, so
-- erasure finds the person's media in R2 without reading raw JSON.
ALTER TABLE messages ADD COLUMN media_id TEXT;

-- The customers an event names (canonical wa_ids found under wa_id, from and
-- recipient_id in its raw JSON), so erasure finds their events by key.
CREATE TABLE IF NOT EXISTS event_contacts (
  wa_id    TEXT NOT NULL,
  event_id TEXT NOT NULL,
  PRIMARY KEY (wa_id, event_id)
);
-- Events stored before this migration: the numbers their JSON names.
WITH e AS MATERIALIZED (SELECT id, raw FROM events WHERE raw_encoding = 'json' AND json_valid(raw))
INSERT INTO event_contacts (wa_id, event_id)
SELECT DISTINCT t.value, e.id FROM e, json_tree(e.raw) t
WHERE t.key IN ('wa_id', 'from', 'recipient_id') AND t.type = 'text'
ON CONFLICT DO NOTHING;

-- Erased contacts: a salted hash of the canonical wa_id and when it was
-- erased, so a redelivery of an older webhook does not bring them back. It
-- holds no personal data.
CREATE TABLE IF NOT EXISTS erased (
  key       TEXT PRIMARY KEY,
  erased_at INTEGER NOT NULL
);
-- Events erased with a contact, by their content hash (which says nothing
-- of what they held): a redelivery of the same change is not stored again.
CREATE TABLE IF NOT EXISTS erased_events (
  id TEXT PRIMARY KEY
);

-- Deployment-wide values wa-edge generates once (the erasure salt).
CREATE TABLE IF NOT EXISTS settings (
  name  TEXT PRIMARY KEY,
  value TEXT NOT NULL
);
