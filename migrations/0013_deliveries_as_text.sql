-- Erasure searches the text of kept bodies that are not JSON (dead
-- letters); this index keeps it from reading every other kept body.
CREATE INDEX IF NOT EXISTS deliveries_as_text ON deliveries (id)
  WHERE raw_encoding = 'text' AND raw_ref IS NULL;
