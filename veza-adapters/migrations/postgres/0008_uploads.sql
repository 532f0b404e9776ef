-- Resumable (tus) uploads; mirrors sqlite/0008_uploads.sql. Each append is one part row
-- naming its own blob; the offset only moves by a conditional UPDATE with the part's insert.
-- claimed_until reserves a complete upload for the one request turning it into a track.
CREATE TABLE uploads (
    id UUID PRIMARY KEY,
    owner_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    length_bytes BIGINT NOT NULL CHECK (length_bytes >= 0),
    offset_bytes BIGINT NOT NULL CHECK (offset_bytes >= 0 AND offset_bytes <= length_bytes),
    metadata TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    claimed_until TIMESTAMPTZ
);
CREATE INDEX uploads_owner_idx ON uploads (owner_id);

CREATE TABLE upload_parts (
    upload_id UUID NOT NULL REFERENCES uploads (id) ON DELETE CASCADE,
    offset_bytes BIGINT NOT NULL CHECK (offset_bytes >= 0),
    blob_key TEXT NOT NULL,
    size_bytes BIGINT NOT NULL CHECK (size_bytes > 0),
    PRIMARY KEY (upload_id, offset_bytes)
);
