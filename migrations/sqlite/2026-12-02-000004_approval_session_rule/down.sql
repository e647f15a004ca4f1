ALTER TABLE approvals DROP COLUMN session_rule;
