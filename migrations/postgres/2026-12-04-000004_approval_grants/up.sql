-- Grants (docs/policy.md): an approval decided with scope Session or Rule carries the rule it
-- allows for the rest of the session (`grant_rule`), until `grant_expires_at` (NULL: until
-- the session is closed), unless revoked (`grant_revoked_at`, `grant_revoked_by`). Orchestra
-- checks them on every permission prompt. `working_directory` is the session's when the
-- approval was asked (path rules are relative to it).
ALTER TABLE approvals DROP CONSTRAINT approvals_scope_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_scope_check CHECK (scope IN ('Once', 'Session', 'Rule'));
ALTER TABLE approvals DROP CONSTRAINT approvals_kind_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_kind_check CHECK (kind IN ('Live', 'Denial', 'Test', 'Budget'));
ALTER TABLE approvals ADD COLUMN working_directory TEXT;
ALTER TABLE approvals ADD COLUMN grant_rule TEXT;
ALTER TABLE approvals ADD COLUMN grant_expires_at TIMESTAMP;
ALTER TABLE approvals ADD COLUMN grant_revoked_at TIMESTAMP;
ALTER TABLE approvals ADD COLUMN grant_revoked_by TEXT;
-- "Allow for this session" decisions from before become grants without an expiry.
UPDATE approvals SET grant_rule = session_rule
 WHERE status = 'Approved' AND scope = 'Session' AND session_rule IS NOT NULL;
CREATE INDEX approvals_grants ON approvals (session_id) WHERE grant_rule IS NOT NULL;
