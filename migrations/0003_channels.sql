-- Channels (WhatsApp numbers) beyond the one configured in the environment.
-- The body is the channel's JSON; credentials are Workers secrets it names.
CREATE TABLE IF NOT EXISTS channels (
  phone_number_id TEXT PRIMARY KEY,
  body            TEXT NOT NULL,
  profile         TEXT,
  profile_synced_at INTEGER,
  templates_synced_at INTEGER,
  created_at      INTEGER NOT NULL,
  updated_at      INTEGER NOT NULL
);

-- Message templates per WhatsApp Business Account, synced from Graph and
-- updated by message_template_status_update webhooks.
CREATE TABLE IF NOT EXISTS templates (
  id              TEXT PRIMARY KEY,
  waba_id         TEXT NOT NULL,
  name            TEXT NOT NULL,
  language        TEXT NOT NULL,
  category        TEXT,
  status          TEXT NOT NULL,
  rejected_reason TEXT,
  body            TEXT,
  synced_at       INTEGER,
  updated_at      INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS templates_by_waba ON templates (waba_id, name, language);

-- The wa_id form WhatsApp last used for a contact (replies go to it), beside
-- the canonical wa_id the contact is keyed by.
ALTER TABLE contacts ADD COLUMN last_wa_id TEXT;
