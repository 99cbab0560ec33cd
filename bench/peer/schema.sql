-- The baseline peer's tables (bench/peer/src/index.js). Every message and
-- status of a delivery is stored once: redeliveries are INSERT OR IGNOREd.
CREATE TABLE IF NOT EXISTS messages (
  wamid           TEXT PRIMARY KEY,
  phone_number_id TEXT,
  from_id         TEXT,
  type            TEXT,
  timestamp       INTEGER,
  body            TEXT  -- the message object, as JSON
);

CREATE TABLE IF NOT EXISTS statuses (
  wamid        TEXT,
  status       TEXT,
  timestamp    INTEGER,
  recipient_id TEXT,
  body         TEXT,    -- the status object, as JSON
  PRIMARY KEY (wamid, status)
);
