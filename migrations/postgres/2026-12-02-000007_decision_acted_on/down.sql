DROP INDEX approvals_acted_on;
ALTER TABLE approvals DROP COLUMN acted_at;
ALTER TABLE approvals DROP COLUMN acted_by;
ALTER TABLE approvals DROP COLUMN acted_on;
