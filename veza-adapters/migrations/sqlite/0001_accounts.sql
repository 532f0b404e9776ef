-- Accounts, sessions and their refresh-token chains. Mirrors postgres/0001_accounts.sql:
-- UUIDs as hyphenated TEXT, times as fixed-width RFC 3339 TEXT (microseconds, UTC, so they
-- sort as text), booleans as INTEGER 0/1.
CREATE TABLE users (
    id TEXT PRIMARY KEY,
    email TEXT NOT NULL,
    username TEXT NOT NULL,
    username_key TEXT NOT NULL,
    display_name TEXT NOT NULL,
    role TEXT NOT NULL CHECK (role IN ('listener', 'creator', 'moderator', 'admin')),
    password_hash TEXT NOT NULL,
    email_verified INTEGER NOT NULL DEFAULT 0,
    two_factor_enabled INTEGER NOT NULL DEFAULT 0,
    token_version INTEGER NOT NULL DEFAULT 0,
    suspended_at TEXT,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL,
    CONSTRAINT users_email_key UNIQUE (email),
    CONSTRAINT users_username_key UNIQUE (username_key)
) STRICT;

CREATE TABLE sessions (
    id TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    created_at TEXT NOT NULL,
    last_used_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    revoked_at TEXT,
    user_agent TEXT,
    ip TEXT
) STRICT;
CREATE INDEX sessions_user_id_idx ON sessions (user_id, id);

CREATE TABLE refresh_tokens (
    token_hash TEXT PRIMARY KEY,
    session_id TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    issued_at TEXT NOT NULL,
    rotated_at TEXT
) STRICT;
CREATE INDEX refresh_tokens_session_id_idx ON refresh_tokens (session_id);
