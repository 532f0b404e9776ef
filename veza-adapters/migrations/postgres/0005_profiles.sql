-- Profiles, settings and follows. Profile fields live on the account row (one per account,
-- nothing to create lazily); follow counts are counted from `follows`, never stored, so
-- they cannot drift.
ALTER TABLE users ADD COLUMN bio TEXT;
ALTER TABLE users ADD COLUMN location TEXT;
ALTER TABLE users ADD COLUMN website TEXT;
-- Blob key of the avatar (`avatars/<sha256>.<ext>`); several accounts may share one.
ALTER TABLE users ADD COLUMN avatar_key TEXT;
CREATE INDEX users_avatar_key_idx ON users (avatar_key);

-- No row: the defaults (notifications on, public profile, English, no explicit content).
CREATE TABLE user_settings (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_notifications BOOLEAN NOT NULL,
    private_profile BOOLEAN NOT NULL,
    language TEXT NOT NULL,
    explicit_content BOOLEAN NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

-- Personal data of both accounts: erasing either removes the row (ADR 0004).
CREATE TABLE follows (
    id UUID PRIMARY KEY,
    follower_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TIMESTAMPTZ NOT NULL,
    CONSTRAINT follows_pair_key UNIQUE (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
);
-- Lists page by follow id (newest first) from either side; counts scan the same indexes.
CREATE INDEX follows_followee_idx ON follows (followee_id, id);
CREATE INDEX follows_follower_idx ON follows (follower_id, id);
