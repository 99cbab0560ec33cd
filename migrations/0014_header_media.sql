-- Outbound messages record the media of their header too (an interactive
-- message's, a template's), so the media proxy serves it and erasure finds
-- its copy. Rows sent before have it read from their payload (CASE keeps
-- any read of what is not a JSON object from being tried).
UPDATE messages SET media_id = json_extract(raw, '$.interactive.header.' ||
    json_extract(raw, '$.interactive.header.type') || '.id')
  WHERE direction = 'out' AND media_id IS NULL AND type = 'interactive'
  AND CASE WHEN json_valid(raw) THEN json_extract(raw, '$.interactive.header.type')
    IN ('image', 'video', 'document') ELSE 0 END;
UPDATE messages SET media_id = (SELECT json_extract(p.value, '$.' || json_extract(p.value, '$.type') || '.id')
    FROM json_each(raw, '$.template.components') c,
      json_each(CASE WHEN c.type = 'object' THEN c.value ELSE '{}' END, '$.parameters') p
    WHERE CASE WHEN c.type = 'object' AND p.type = 'object' THEN
      json_extract(c.value, '$.type') = 'header'
      AND json_extract(p.value, '$.type') IN ('image', 'video', 'document')
      AND json_type(p.value, '$.' || json_extract(p.value, '$.type') || '.id') = 'text'
    ELSE 0 END LIMIT 1)
  WHERE direction = 'out' AND media_id IS NULL AND type = 'template'
  AND CASE WHEN json_valid(raw) THEN json_type(raw, '$.template.components') = 'array' ELSE 0 END;
