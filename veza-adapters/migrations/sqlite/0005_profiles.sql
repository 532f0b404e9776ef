-- Profiles, settings and follows; mirrors postgres/0005_profiles.sql. Follow counts are
-- counted from `follows`, never stored, so they cannot drift.
ALTER TABLE users ADD COLUMN bio TEXT;
ALTER TABLE users ADD COLUMN location TEXT;
ALTER TABLE users ADD COLUMN website TEXT;
ALTER TABLE users ADD COLUMN avatar_key TEXT;
CREATE INDEX users_avatar_key_idx ON users (avatar_key);

CREATE TABLE user_settings (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    email_notifications INTEGER NOT NULL,
    private_profile INTEGER NOT NULL,
    language TEXT NOT NULL,
    explicit_content INTEGER NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE follows (
    id TEXT PRIMARY KEY,
    follower_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    followee_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    CONSTRAINT follows_pair_key UNIQUE (follower_id, followee_id),
    CONSTRAINT follows_not_self CHECK (follower_id <> followee_id)
) STRICT;
CREATE INDEX follows_followee_idx ON follows (followee_id, id);
CREATE INDEX follows_follower_idx ON follows (follower_id, id);
