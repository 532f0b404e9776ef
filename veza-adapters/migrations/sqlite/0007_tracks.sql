-- Tracks; mirrors postgres/0007_tracks.sql. Tags are stored as `,tag1,tag2,` so one tag
-- matches with LIKE '%,tag,%'; peaks are little-endian f32s. Deleting an account deletes its
-- track rows (their blobs are the erasure's business).
CREATE TABLE tracks (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    -- The owner's username, copied for full-text search (usernames do not change).
    owner_name TEXT NOT NULL,
    title TEXT NOT NULL,
    title_key TEXT NOT NULL,
    description TEXT,
    genre TEXT,
    genre_key TEXT,
    tags TEXT NOT NULL,
    bpm INTEGER,
    musical_key TEXT,
    visibility TEXT NOT NULL CHECK (visibility IN ('public', 'unlisted', 'private')),
    downloadable INTEGER NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    failure_reason TEXT,
    duration_ms INTEGER,
    sample_rate INTEGER,
    channels INTEGER,
    bitrate INTEGER,
    codec TEXT,
    size_bytes INTEGER NOT NULL,
    blob_key TEXT NOT NULL,
    format TEXT NOT NULL,
    peaks BLOB,
    samples_per_peak INTEGER,
    popularity INTEGER NOT NULL DEFAULT 0,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    version INTEGER NOT NULL
) STRICT;
CREATE INDEX tracks_owner_idx ON tracks (owner_id, id);
-- Whether a deleted track's blob is still another track's original.
CREATE INDEX tracks_blob_key_idx ON tracks (blob_key);
-- Lists read public ready tracks in one of three keyset orders.
CREATE INDEX tracks_listed_recent_idx ON tracks (status, visibility, id);
CREATE INDEX tracks_listed_title_idx ON tracks (status, visibility, title_key, id);
CREATE INDEX tracks_listed_popular_idx ON tracks (status, visibility, popularity, id);

-- Full-text search: an FTS5 index kept in step with `tracks` by the triggers below (the
-- PostgreSQL side is a generated tsvector column). Diacritics are kept, as PostgreSQL's
-- `simple` configuration keeps them, so both find the same tracks.
CREATE VIRTUAL TABLE tracks_fts USING fts5 (
    track_id UNINDEXED, title, owner_name, tags, description,
    tokenize = 'unicode61 remove_diacritics 0'
);
CREATE TRIGGER tracks_fts_insert AFTER INSERT ON tracks BEGIN
    INSERT INTO tracks_fts (track_id, title, owner_name, tags, description)
    VALUES (new.id, new.title, new.owner_name, replace(new.tags, ',', ' '),
            coalesce(new.description, ''));
END;
CREATE TRIGGER tracks_fts_update AFTER UPDATE OF title, owner_name, tags, description ON tracks
BEGIN
    DELETE FROM tracks_fts WHERE track_id = old.id;
    INSERT INTO tracks_fts (track_id, title, owner_name, tags, description)
    VALUES (new.id, new.title, new.owner_name, replace(new.tags, ',', ' '),
            coalesce(new.description, ''));
END;
CREATE TRIGGER tracks_fts_delete AFTER DELETE ON tracks BEGIN
    DELETE FROM tracks_fts WHERE track_id = old.id;
END;
