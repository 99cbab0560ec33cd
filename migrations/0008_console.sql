-- The console: signed-in browser sessions, failed sign-ins per client
-- address (the rate limit), and how far each conversation has been read.
--
-- A session is stored under the SHA-256 (hex) of the cookie's secret, so a
-- copy of this table opens no session. token_fp is a fingerprint of the
-- ADMIN_TOKEN the session was opened with: rotating the token ends every
-- session at once. expires_at slides forward while the session is used.
CREATE TABLE IF NOT EXISTS sessions (
  id_hash      TEXT PRIMARY KEY,
  csrf         TEXT NOT NULL,
  token_fp     TEXT NOT NULL,
  created_at   INTEGER NOT NULL,
  last_seen_at INTEGER NOT NULL,
  expires_at   INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sessions_by_expiry ON sessions (expires_at);

-- One row per unsuccessful sign-in attempt, keyed by the client address
-- (an IPv6 address by its /64); rows older than the window are deleted as
-- new ones arrive and by the cron.
CREATE TABLE IF NOT EXISTS sign_in_failures (
  ip TEXT NOT NULL,
  at INTEGER NOT NULL
);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_ip ON sign_in_failures (ip, at);
CREATE INDEX IF NOT EXISTS sign_in_failures_by_time ON sign_in_failures (at);

-- The time (ms) up to which a conversation (a contact on a channel) was
-- read in the console: inbound messages received after it are unread.
CREATE TABLE IF NOT EXISTS conversation_reads (
  contact_id      TEXT NOT NULL,
  phone_number_id TEXT NOT NULL,
  read_at         INTEGER NOT NULL,
  PRIMARY KEY (contact_id, phone_number_id)
);
