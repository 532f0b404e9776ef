-- Security events; mirrors postgres/0002_audit.sql. No foreign keys: rows outlive the accounts they name.
CREATE TABLE audit_log (
    id TEXT PRIMARY KEY,
    action TEXT NOT NULL,
    actor_id TEXT,
    target_id TEXT,
    ip TEXT,
    user_agent TEXT,
    detail TEXT,
    occurred_at TEXT NOT NULL
) STRICT;
CREATE INDEX audit_log_actor_idx ON audit_log (actor_id, id);
CREATE INDEX audit_log_target_idx ON audit_log (target_id, id);
CREATE INDEX audit_log_action_idx ON audit_log (action, id);
