-- Two-factor authentication; mirrors postgres/0003_two_factor.sql. One TOTP secret per
-- account (base32 text; pending while enabled_at is NULL) with the last accepted time step,
-- and single-use recovery codes as SHA-256 hex. users.two_factor_enabled (0001) is kept in
-- step by the same transactions.
CREATE TABLE two_factor (
    user_id TEXT PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled_at TEXT,
    last_step INTEGER,
    created_at TEXT NOT NULL,
    updated_at TEXT NOT NULL
) STRICT;

CREATE TABLE recovery_codes (
    user_id TEXT NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TEXT NOT NULL,
    used_at TEXT,
    PRIMARY KEY (user_id, code_hash)
) STRICT;
