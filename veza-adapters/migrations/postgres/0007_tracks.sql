-- Tracks; mirrored by sqlite/0007_tracks.sql. Tags are stored as `,tag1,tag2,` so one tag
-- matches with LIKE '%,tag,%' on both dialects; peaks are little-endian f32s. Deleting an
-- account deletes its track rows (their blobs are the erasure's business).
CREATE TABLE tracks (
    id UUID PRIMARY KEY,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
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
    downloadable BOOLEAN NOT NULL,
    status TEXT NOT NULL CHECK (status IN ('processing', 'ready', 'failed')),
    failure_reason TEXT,
    duration_ms BIGINT,
    sample_rate INTEGER,
    channels INTEGER,
    bitrate INTEGER,
    codec TEXT,
    size_bytes BIGINT NOT NULL,
    blob_key TEXT NOT NULL,
    format TEXT NOT NULL,
    peaks BYTEA,
    samples_per_peak BIGINT,
    popularity BIGINT NOT NULL DEFAULT 0,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL,
    version BIGINT NOT NULL
);
CREATE INDEX tracks_owner_idx ON tracks (owner_id, id);
-- Whether a deleted track's blob is still another track's original.
CREATE INDEX tracks_blob_key_idx ON tracks (blob_key);
-- Lists read public ready tracks in one of three keyset orders.
CREATE INDEX tracks_listed_recent_idx ON tracks (status, visibility, id);
CREATE INDEX tracks_listed_title_idx ON tracks (status, visibility, title_key, id);
CREATE INDEX tracks_listed_popular_idx ON tracks (status, visibility, popularity, id);

-- Full-text search: a generated tsvector (title weighs most, then owner and tags, then the
-- description) under a GIN index. The `simple` configuration neither stems nor drops stop
-- words, as SQLite's FTS5 unicode61 tokenizer does not, so both find the same tracks.
ALTER TABLE tracks ADD COLUMN search tsvector GENERATED ALWAYS AS (
    setweight(to_tsvector('simple', title), 'A')
    || setweight(to_tsvector('simple', owner_name), 'B')
    || setweight(to_tsvector('simple', replace(tags, ',', ' ')), 'B')
    || setweight(to_tsvector('simple', coalesce(description, '')), 'C')
) STORED;
CREATE INDEX tracks_search_idx ON tracks USING GIN (search);
