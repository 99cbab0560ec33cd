-- A spilled raw body is named by its row: `raw_ref` holds `parts:<owner>`
-- (its `raw_parts` rows) or `r2:<key>` (its R2 object), and the owner or key
-- carries a tag of the delivery that wrote it. So a delivery that repeats a
-- row's key (a redelivery under other bytes, another channel's message with
-- the same wamid) cannot add parts to, or overwrite, a body another row
-- names. Rows written before kept a bare 'parts' and owners named by the
-- row's key alone; they are rewritten to the form every reader now uses.
UPDATE messages SET raw_ref = 'parts:message:' || id WHERE raw_ref = 'parts';
UPDATE statuses SET raw_ref = 'parts:status:' || wamid || ':' || status WHERE raw_ref = 'parts';
UPDATE events SET raw_ref = 'parts:event:' || id WHERE raw_ref = 'parts';
UPDATE deliveries SET raw_ref = 'parts:delivery:' || id WHERE raw_ref = 'parts';
