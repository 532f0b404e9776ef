-- Resumable (tus) uploads; mirrors postgres/0008_uploads.sql. Each append is one part row
-- naming its own blob; the offset only moves by a conditional UPDATE with the part's insert.
-- claimed_until reserves a complete upload for the one request turning it into a track.
CREATE TABLE uploads (
    id TEXT PRIMARY KEY,
    owner_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    length_bytes INTEGER NOT NULL CHECK (length_bytes >= 0),
    offset_bytes INTEGER NOT NULL CHECK (offset_bytes >= 0 AND offset_bytes <= length_bytes),
    metadata TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    claimed_until TEXT
) STRICT;
CREATE INDEX uploads_owner_idx ON uploads (owner_id);

CREATE TABLE upload_parts (
    upload_id TEXT NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    offset_bytes INTEGER NOT NULL CHECK (offset_bytes >= 0),
    blob_key TEXT NOT NULL,
    size_bytes INTEGER NOT NULL CHECK (size_bytes > 0),
    PRIMARY KEY (upload_id, offset_bytes)
) STRICT;
