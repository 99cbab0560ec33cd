-- The media proxy serves only media a stored message names, found by its
-- id; outbound messages now record the uploaded media they send, as inbound
-- ones always have, so erasure finds those copies too. Rows sent before
-- have their media id read from their payload.
CREATE INDEX IF NOT EXISTS messages_by_media ON messages (media_id) WHERE media_id IS NOT NULL;
UPDATE messages SET media_id = json_extract(raw, '$.' || type || '.id')
  WHERE direction = 'out' AND media_id IS NULL AND raw IS NOT NULL AND json_valid(raw)
  AND type IN ('image', 'audio', 'video', 'document', 'sticker');
