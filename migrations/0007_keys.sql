-- API keys scoped per purpose. The key itself is shown once, on creation,
-- and never stored: key_hash is its SHA-256 (hex). scopes is a JSON array
-- of send / read / admin; channels a JSON array of phone number ids a send
-- key is limited to, NULL for every channel. Deleting the row revokes the
-- key at once: every request looks its key up.
CREATE TABLE IF NOT EXISTS api_keys (
  id           TEXT PRIMARY KEY,
  name         TEXT NOT NULL,
  scopes       TEXT NOT NULL,
  channels     TEXT,
  key_hash     TEXT NOT NULL UNIQUE,
  created_at   INTEGER NOT NULL,
  last_used_at INTEGER
);
