-- Single-use tokens mailed to account holders, and the outbox of mails not yet sent.
-- Mirrors postgres/0004_mail.sql (UUIDs and times as TEXT, see 0001_accounts.sql).
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    email TEXT NOT NULL,
    created_at TEXT NOT NULL,
    expires_at TEXT NOT NULL,
    used_at TEXT
) STRICT;
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose);

CREATE TABLE mail_outbox (
    id TEXT PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    queued_at TEXT NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TEXT NOT NULL,
    last_error TEXT,
    abandoned_at TEXT
) STRICT;
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE abandoned_at IS NULL;
