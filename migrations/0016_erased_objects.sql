-- Media copies in R2 an erasure deletes after its batch: a copy a media
-- download kept while the erasure ran, and shared media no message names
-- once everyone it was sent to is gone. Written in the erasure's batch and
-- removed by that erasure once its second pass has deleted them; a row
-- left by a pass that failed (R2 or D1 refused) is finished by the cron,
-- which deletes the copy only while no stored message names the media.
-- Media ids only: nothing that identifies the person
-- (their raw bodies are deleted before the batch, or the erasure fails).
CREATE TABLE IF NOT EXISTS erased_objects (
  media_id TEXT PRIMARY KEY,
  at       INTEGER NOT NULL
);
