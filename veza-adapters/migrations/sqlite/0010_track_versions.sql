-- Track versions; mirrors postgres/0010_track_versions.sql. Every original a track has had,
-- numbered from 1; the track row keeps serving the newest. Version 1 of each track shares the
-- track's id. Deleting a track deletes its versions (their blobs are removed by jobs).
CREATE TABLE track_versions (
    id TEXT PRIMARY KEY,
    track_id TEXT NOT NULL REFERENCES tracks (id) ON DELETE CASCADE,
    number INTEGER NOT NULL CHECK (number >= 1),
    blob_key TEXT NOT NULL,
    format TEXT NOT NULL,
    size_bytes INTEGER NOT NULL,
    created_at TEXT NOT NULL,
    UNIQUE (track_id, number)
) STRICT;
CREATE INDEX track_versions_listed_idx ON track_versions (track_id, id);
-- Whether a deleted version's blob is still another version's original.
CREATE INDEX track_versions_blob_key_idx ON track_versions (blob_key);
INSERT INTO track_versions (id, track_id, number, blob_key, format, size_bytes, created_at)
SELECT id, id, 1, blob_key, format, size_bytes, created_at FROM tracks;
