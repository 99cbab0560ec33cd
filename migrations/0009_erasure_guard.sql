-- One D1 round trip per delivery. The check that a delivery names nobody
-- erased runs inside the delivery's own write batch: its first statement
-- inserts a row this table refuses when any of the delivery's tombstone
-- keys is in `erased`, which rolls the whole batch back; only then does
-- the worker look the tombstones up and drop what they cover. The salt the
-- keys are made with is created here, once, so an isolate reads it once
-- and keeps it.
INSERT INTO settings (name, value)
  SELECT 'erasure_salt', lower(hex(randomblob(32)))
  WHERE NOT EXISTS (SELECT 1 FROM settings WHERE name = 'erasure_salt');
CREATE TABLE IF NOT EXISTS erasure_guard (
  ok INTEGER NOT NULL CONSTRAINT names_an_erased_person CHECK (ok = 1)
);
