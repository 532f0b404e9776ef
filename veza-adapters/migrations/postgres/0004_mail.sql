-- Single-use tokens mailed to account holders, and the outbox of mails not yet sent.

-- Password-reset and e-mail verification tokens, as SHA-256 hex. Live while used_at is NULL
-- and expires_at is in the future.
CREATE TABLE user_tokens (
    token_hash TEXT PRIMARY KEY,
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    purpose TEXT NOT NULL CHECK (purpose IN ('password_reset', 'email_verification')),
    -- the address the link was mailed to
    email TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ
);
CREATE INDEX user_tokens_user_idx ON user_tokens (user_id, purpose);

-- Written in the transaction of the token a mail carries; a relay claims due rows
-- (FOR UPDATE SKIP LOCKED), sends them and deletes them. A claim pushes next_attempt_at one
-- lease ahead, so a mail whose relay died is due again once the lease ends.
CREATE TABLE mail_outbox (
    id UUID PRIMARY KEY,
    recipient TEXT NOT NULL,
    subject TEXT NOT NULL,
    text_body TEXT NOT NULL,
    html_body TEXT NOT NULL,
    queued_at TIMESTAMPTZ NOT NULL,
    attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt_at TIMESTAMPTZ NOT NULL,
    last_error TEXT,
    -- set when delivery was given up; such rows are never claimed again
    abandoned_at TIMESTAMPTZ
);
CREATE INDEX mail_outbox_due_idx ON mail_outbox (next_attempt_at) WHERE abandoned_at IS NULL;
