-- A delivery's batch checks that the destinations it was planned with are
-- still the ones in D1. `destinations_version` takes a new random value (so
-- a restored database never repeats one an isolate holds) whenever a destination
-- is added, removed, or changes what it is sent (its body: URL, filters,
-- format) or whether it is enabled; not on a forward's success or failure.
-- The batch's first statement inserts a row `delivery_guard` refuses when
-- the delivery names an erased person (ok = 0) or when the version it was
-- planned with is not D1's (ok = 2), which rolls the whole batch back; the
-- worker then reloads what it needs and writes the delivery again.
INSERT INTO settings (name, value)
  SELECT 'destinations_version', '0'
  WHERE NOT EXISTS (SELECT 1 FROM settings WHERE name = 'destinations_version');

CREATE TRIGGER IF NOT EXISTS destinations_version_on_insert AFTER INSERT ON destinations
BEGIN
  UPDATE settings SET value = lower(hex(randomblob(8))) WHERE name = 'destinations_version';
END;

CREATE TRIGGER IF NOT EXISTS destinations_version_on_delete AFTER DELETE ON destinations
BEGIN
  UPDATE settings SET value = lower(hex(randomblob(8))) WHERE name = 'destinations_version';
END;

CREATE TRIGGER IF NOT EXISTS destinations_version_on_change AFTER UPDATE OF body, enabled ON destinations
WHEN OLD.body IS NOT NEW.body OR OLD.enabled IS NOT NEW.enabled
BEGIN
  UPDATE settings SET value = lower(hex(randomblob(8))) WHERE name = 'destinations_version';
END;

CREATE TABLE IF NOT EXISTS delivery_guard (
  ok INTEGER NOT NULL
    CONSTRAINT names_an_erased_person CHECK (ok <> 0)
    CONSTRAINT destinations_changed CHECK (ok <> 2)
);
