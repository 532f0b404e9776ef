-- Two-factor authentication. One TOTP secret per account (base32; pending while enabled_at
-- is NULL) with the last accepted time step: a code of that step or an earlier one is a
-- replay. Recovery codes as SHA-256 hex, each usable once. users.two_factor_enabled (0001)
-- is kept in step by the same transactions.
CREATE TABLE two_factor (
    user_id UUID PRIMARY KEY REFERENCES users (id) ON DELETE CASCADE,
    secret TEXT NOT NULL,
    enabled_at TIMESTAMPTZ,
    last_step BIGINT,
    created_at TIMESTAMPTZ NOT NULL,
    updated_at TIMESTAMPTZ NOT NULL
);

CREATE TABLE recovery_codes (
    user_id UUID NOT NULL REFERENCES users (id) ON DELETE CASCADE,
    code_hash TEXT NOT NULL,
    created_at TIMESTAMPTZ NOT NULL,
    used_at TIMESTAMPTZ,
    PRIMARY KEY (user_id, code_hash)
);
