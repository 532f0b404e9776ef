-- Index upkeep; mirrors postgres/0011_track_index_upkeep.sql.
-- Whether a blob is still in use is asked of track_versions since 0010: this index is only
-- written, never read.
DROP INDEX tracks_blob_key_idx;
-- The search row is replaced only when a searched column really changed: finding it by
-- track_id walks the whole FTS index (the column is UNINDEXED), which an edit of bpm or
-- visibility, or a processing result, need not pay.
DROP TRIGGER tracks_fts_update;
CREATE TRIGGER tracks_fts_update AFTER UPDATE OF title, owner_name, tags, description ON tracks
WHEN old.title IS NOT new.title OR old.owner_name IS NOT new.owner_name
    OR old.tags IS NOT new.tags OR old.description IS NOT new.description
BEGIN
    DELETE FROM tracks_fts WHERE track_id = old.id;
    INSERT INTO tracks_fts (track_id, title, owner_name, tags, description)
    VALUES (new.id, new.title, new.owner_name, replace(new.tags, ',', ' '),
            coalesce(new.description, ''));
END;
