-- Grants (docs/policy.md): an approval decided with scope Session or Rule carries the rule it
-- allows for the rest of the session (`grant_rule`), until `grant_expires_at` (NULL: until
-- the session is closed), unless revoked (`grant_revoked_at`, `grant_revoked_by`). Orchestra
-- checks them on every permission prompt. `working_directory` is the session's when the
-- approval was asked (path rules are relative to it).
--
-- SQLite cannot change a CHECK constraint in place (the scope gains 'Rule', the kind
-- 'Budget' for session budgets), so the table is
-- rebuilt, in this migration's transaction; nothing references it.
CREATE TABLE approvals_new (
    id TEXT PRIMARY KEY NOT NULL,
    session_id TEXT NOT NULL,
    agent_id TEXT NOT NULL,
    tool_name TEXT NOT NULL,
    tool_input TEXT NOT NULL,
    tool_use_id TEXT,
    kind TEXT NOT NULL CHECK (kind IN ('Live', 'Denial', 'Test', 'Budget')),
    description TEXT,
    status TEXT NOT NULL CHECK (status IN ('Pending', 'Approved', 'Rejected', 'Expired', 'Cancelled')),
    created_at TIMESTAMP NOT NULL,
    expires_at TIMESTAMP NOT NULL,
    decided_by TEXT,
    decided_at TIMESTAMP,
    reason TEXT,
    updated_input TEXT,
    scope TEXT NOT NULL DEFAULT 'Once' CHECK (scope IN ('Once', 'Session', 'Rule')),
    notification_ref TEXT,
    warned_at TIMESTAMP,
    session_rule TEXT,
    notification TEXT NOT NULL DEFAULT 'pending',
    notify_attempts INTEGER NOT NULL DEFAULT 0,
    notify_error TEXT,
    notify_after TIMESTAMP,
    acted_on TEXT NOT NULL DEFAULT 'waiting',
    acted_by TEXT,
    acted_at TIMESTAMP,
    risk TEXT NOT NULL DEFAULT 'high',
    working_directory TEXT,
    grant_rule TEXT,
    grant_expires_at TIMESTAMP,
    grant_revoked_at TIMESTAMP,
    grant_revoked_by TEXT
);
INSERT INTO approvals_new (id, session_id, agent_id, tool_name, tool_input, tool_use_id, kind, description, status, created_at, expires_at, decided_by, decided_at, reason, updated_input, scope, notification_ref, warned_at, session_rule, notification, notify_attempts, notify_error, notify_after, acted_on, acted_by, acted_at, risk, grant_rule)
SELECT id, session_id, agent_id, tool_name, tool_input, tool_use_id, kind, description, status, created_at, expires_at, decided_by, decided_at, reason, updated_input, scope, notification_ref, warned_at, session_rule, notification, notify_attempts, notify_error, notify_after, acted_on, acted_by, acted_at, risk,
       CASE WHEN status = 'Approved' AND scope = 'Session' THEN session_rule END
  FROM approvals;
DROP TABLE approvals;
ALTER TABLE approvals_new RENAME TO approvals;
CREATE INDEX ix_approvals_status_expires ON approvals (status, expires_at);
CREATE INDEX ix_approvals_status_created ON approvals (status, created_at, id);
CREATE INDEX ix_approvals_session_created ON approvals (session_id, created_at, id);
CREATE INDEX ix_approvals_created ON approvals (created_at, id);
CREATE INDEX approvals_outbox_due ON approvals (notification, notify_after);
CREATE INDEX approvals_acted_on ON approvals (acted_on, decided_at);
CREATE INDEX approvals_grants ON approvals (session_id) WHERE grant_rule IS NOT NULL;
