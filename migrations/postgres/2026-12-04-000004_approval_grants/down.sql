DROP INDEX approvals_grants;
ALTER TABLE approvals DROP COLUMN grant_revoked_by;
ALTER TABLE approvals DROP COLUMN grant_revoked_at;
ALTER TABLE approvals DROP COLUMN grant_expires_at;
ALTER TABLE approvals DROP COLUMN grant_rule;
ALTER TABLE approvals DROP COLUMN working_directory;
UPDATE approvals SET scope = 'Session' WHERE scope = 'Rule';
ALTER TABLE approvals DROP CONSTRAINT approvals_scope_check;
ALTER TABLE approvals ADD CONSTRAINT approvals_scope_check CHECK (scope IN ('Once', 'Session'));
