-- R2 objects an erasure deletes after its batch: the copies a media
-- download kept while the erasure ran, and the shared media no message
-- names once everyone it was sent to is gone. Written in the erasure's
-- batch and removed once that second pass has deleted them; a row left by
-- a pass that failed (R2 or D1 refused) is deleted by the cron, media only
-- while no message names it. No personal data: R2 keys and media ids.
CREATE TABLE IF NOT EXISTS erased_objects (
  key      TEXT PRIMARY KEY,
  media_id TEXT,
  at       INTEGER NOT NULL
);
