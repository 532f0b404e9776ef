-- Security events. No foreign keys: rows outlive the accounts they name.
CREATE TABLE audit_log (
    id UUID PRIMARY KEY,
    action TEXT NOT NULL,
    actor_id UUID,
    target_id UUID,
    ip TEXT,
    user_agent TEXT,
    detail TEXT,
    occurred_at TIMESTAMPTZ NOT NULL
);
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
