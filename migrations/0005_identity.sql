-- A contact is a person, not a phone number. Each contact gets a stable id
-- (ct_ and 24 hex digits) and any of: the canonical wa_id, business-scoped
-- user ids (BSUIDs, kept exactly as Meta sends them, one per business
-- portfolio, in contact_user_ids; user_id shows the latest), a parent BSUID,
-- a username, the WhatsApp profile name, and the name the business saved in
-- the WhatsApp Business app. Every table that named a contact by wa_id now
-- names it by contact id. first_seen and last_seen are inbound times; 0
-- means the contact never wrote (known from a send, an echo or an opt-out
-- only).
CREATE TABLE contacts_next (
  id              TEXT PRIMARY KEY,
  wa_id           TEXT UNIQUE,
  user_id         TEXT,
  parent_user_id  TEXT,
  username        TEXT,
  profile_name    TEXT,
  saved_name      TEXT,
  saved_name_at   INTEGER,
  phone_number_id TEXT,
  first_seen      INTEGER NOT NULL DEFAULT 0,
  last_seen       INTEGER NOT NULL DEFAULT 0,
  last_wa_id      TEXT,
  updated_at      INTEGER NOT NULL
);
INSERT INTO contacts_next (id, wa_id, profile_name, phone_number_id, first_seen, last_seen,
  last_wa_id, updated_at)
SELECT 'ct_' || lower(hex(randomblob(12))), wa_id, profile_name, phone_number_id,
  coalesce(first_seen, 0), coalesce(last_seen, 0), last_wa_id, coalesce(updated_at, 0) FROM contacts;
-- Numbers named only by an outbox row, a window or an opt-out become
-- contacts too, so every row below has one.
INSERT INTO contacts_next (id, wa_id, updated_at)
SELECT 'ct_' || lower(hex(randomblob(12))), w, 0 FROM (
  SELECT wa_id AS w FROM messages UNION SELECT wa_id FROM outbox
  UNION SELECT wa_id FROM windows UNION SELECT wa_id FROM opt_outs)
WHERE w IS NOT NULL AND w NOT IN (SELECT wa_id FROM contacts_next WHERE wa_id IS NOT NULL);
DROP TABLE contacts;
ALTER TABLE contacts_next RENAME TO contacts;
CREATE INDEX IF NOT EXISTS contacts_by_last_seen ON contacts (last_seen DESC, id DESC);

-- Every BSUID a contact was seen with, and the WhatsApp Business Account it
-- was seen under (its scope: a number showing another BSUID in the same
-- scope is someone else, in another scope the same person's other
-- portfolio). Old BSUIDs stay, so redelivered messages still find them.
CREATE TABLE IF NOT EXISTS contact_user_ids (
  user_id    TEXT PRIMARY KEY,
  contact_id TEXT NOT NULL,
  scope      TEXT,
  added_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS contact_user_ids_by_contact ON contact_user_ids (contact_id, scope);

-- Messages name their contact by id; the sender's (or recipient's) wa_id
-- and BSUID are kept as the message carried them. origin: 'live' (Cloud
-- API webhook or a wa-edge send), 'echo' (sent from the WhatsApp Business
-- app), 'history' (the coexistence backfill).
CREATE TABLE messages_next (
  id                   TEXT PRIMARY KEY,
  wamid                TEXT UNIQUE,
  direction            TEXT NOT NULL CHECK (direction IN ('in', 'out')),
  origin               TEXT NOT NULL DEFAULT 'live' CHECK (origin IN ('live', 'echo', 'history')),
  phone_number_id      TEXT,
  display_phone_number TEXT,
  contact_id           TEXT NOT NULL,
  wa_id                TEXT,
  user_id              TEXT,
  username             TEXT,
  group_id             TEXT,
  type                 TEXT NOT NULL,
  timestamp            INTEGER NOT NULL,
  text                 TEXT,
  reply_id             TEXT,
  context_id           TEXT,
  media_id             TEXT,
  raw                  TEXT NOT NULL,
  raw_ref              TEXT,
  received_at          INTEGER NOT NULL
);
INSERT INTO messages_next (id, wamid, direction, phone_number_id, display_phone_number,
  contact_id, wa_id, type, timestamp, text, reply_id, context_id, media_id, raw, raw_ref,
  received_at)
SELECT m.id, m.wamid, m.direction, m.phone_number_id, m.display_phone_number, c.id, m.wa_id,
  m.type, m.timestamp, m.text, m.reply_id, m.context_id, m.media_id, m.raw, m.raw_ref,
  m.received_at
FROM messages m JOIN contacts c ON c.wa_id = m.wa_id;
DROP TABLE messages;
ALTER TABLE messages_next RENAME TO messages;
CREATE INDEX IF NOT EXISTS messages_by_contact ON messages (contact_id, timestamp DESC, id DESC);
CREATE INDEX IF NOT EXISTS messages_by_group ON messages (group_id, timestamp DESC, id DESC)
  WHERE group_id IS NOT NULL;

-- Statuses keep the BSUID and group they were reported for.
ALTER TABLE statuses ADD COLUMN recipient_user_id TEXT;
ALTER TABLE statuses ADD COLUMN group_id TEXT;

CREATE TABLE windows_next (
  contact_id      TEXT NOT NULL,
  phone_number_id TEXT NOT NULL,
  last_inbound_at INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (contact_id, phone_number_id)
);
INSERT INTO windows_next (contact_id, phone_number_id, last_inbound_at, updated_at)
SELECT c.id, w.phone_number_id, w.last_inbound_at, coalesce(w.updated_at, w.last_inbound_at)
FROM windows w JOIN contacts c ON c.wa_id = w.wa_id;
DROP TABLE windows;
ALTER TABLE windows_next RENAME TO windows;

CREATE TABLE opt_outs_next (
  phone_number_id TEXT NOT NULL,
  contact_id      TEXT NOT NULL,
  opted_out       INTEGER NOT NULL,
  changed_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL,
  PRIMARY KEY (phone_number_id, contact_id)
);
INSERT INTO opt_outs_next (phone_number_id, contact_id, opted_out, changed_at, updated_at)
SELECT o.phone_number_id, c.id, o.opted_out, coalesce(o.changed_at, 0), coalesce(o.updated_at, 0)
FROM opt_outs o JOIN contacts c ON c.wa_id = o.wa_id;
DROP TABLE opt_outs;
ALTER TABLE opt_outs_next RENAME TO opt_outs;

-- The outbox addresses a contact: recipient is what the send was addressed
-- to (a wa_id as WhatsApp uses it, or a BSUID), contact_id who that is.
ALTER TABLE outbox RENAME COLUMN wa_id TO recipient;
ALTER TABLE outbox ADD COLUMN contact_id TEXT;
UPDATE outbox SET contact_id = (SELECT c.id FROM contacts c WHERE c.wa_id = outbox.recipient);
DROP INDEX IF EXISTS outbox_by_contact;
CREATE INDEX IF NOT EXISTS outbox_by_contact ON outbox (contact_id);

-- Events are found for erasure by every identifier they name: canonical
-- wa_ids and BSUIDs.
ALTER TABLE event_contacts RENAME COLUMN wa_id TO identifier;

-- Two contacts shown by one message to be one person (a number and a BSUID
-- first seen apart): inserting the pair moves everything of `merged` to
-- `kept` in the same statement, and records it as a contacts_merged event.
CREATE TABLE IF NOT EXISTS contact_merges (
  id        TEXT PRIMARY KEY,
  kept      TEXT NOT NULL,
  merged    TEXT NOT NULL,
  merged_at INTEGER NOT NULL
);
CREATE TRIGGER IF NOT EXISTS contact_merge AFTER INSERT ON contact_merges BEGIN
  UPDATE messages SET contact_id = NEW.kept WHERE contact_id = NEW.merged;
  UPDATE outbox SET contact_id = NEW.kept WHERE contact_id = NEW.merged;
  INSERT INTO windows (contact_id, phone_number_id, last_inbound_at, updated_at)
    SELECT NEW.kept, phone_number_id, last_inbound_at, NEW.merged_at FROM windows
    WHERE contact_id = NEW.merged AND true
    ON CONFLICT (contact_id, phone_number_id) DO UPDATE SET
    last_inbound_at = max(last_inbound_at, excluded.last_inbound_at);
  DELETE FROM windows WHERE contact_id = NEW.merged;
  INSERT INTO opt_outs (phone_number_id, contact_id, opted_out, changed_at, updated_at)
    SELECT phone_number_id, NEW.kept, opted_out, changed_at, NEW.merged_at FROM opt_outs
    WHERE contact_id = NEW.merged AND true
    ON CONFLICT (phone_number_id, contact_id) DO UPDATE SET opted_out = excluded.opted_out,
    changed_at = excluded.changed_at WHERE excluded.changed_at >= opt_outs.changed_at;
  DELETE FROM opt_outs WHERE contact_id = NEW.merged;
  UPDATE contacts SET
    user_id = coalesce(user_id, (SELECT m.user_id FROM contacts m WHERE m.id = NEW.merged)),
    parent_user_id = coalesce(parent_user_id, (SELECT m.parent_user_id FROM contacts m WHERE m.id = NEW.merged)),
    username = coalesce((SELECT m.username FROM contacts m WHERE m.id = NEW.merged
      AND m.last_seen > contacts.last_seen), username,
      (SELECT m.username FROM contacts m WHERE m.id = NEW.merged)),
    profile_name = coalesce((SELECT m.profile_name FROM contacts m WHERE m.id = NEW.merged
      AND m.last_seen > contacts.last_seen), profile_name,
      (SELECT m.profile_name FROM contacts m WHERE m.id = NEW.merged)),
    saved_name = coalesce(saved_name, (SELECT m.saved_name FROM contacts m WHERE m.id = NEW.merged)),
    phone_number_id = coalesce((SELECT m.phone_number_id FROM contacts m WHERE m.id = NEW.merged
      AND m.last_seen > contacts.last_seen), phone_number_id),
    first_seen = coalesce((SELECT CASE WHEN contacts.first_seen = 0 THEN m.first_seen
      WHEN m.first_seen = 0 THEN contacts.first_seen ELSE min(contacts.first_seen, m.first_seen) END
      FROM contacts m WHERE m.id = NEW.merged), first_seen),
    last_seen = max(last_seen, coalesce((SELECT m.last_seen FROM contacts m WHERE m.id = NEW.merged), 0)),
    updated_at = NEW.merged_at
  WHERE id = NEW.kept;
  UPDATE contact_user_ids SET contact_id = NEW.kept WHERE contact_id = NEW.merged;
  DELETE FROM contacts WHERE id = NEW.merged;
  INSERT INTO events (id, kind, summary, raw, raw_encoding, received_at)
    VALUES (NEW.id, 'contacts_merged', json_object('kept', NEW.kept, 'merged', NEW.merged),
    json_object('kept', NEW.kept, 'merged', NEW.merged), 'json', NEW.merged_at)
    ON CONFLICT (id) DO NOTHING;
END;
