ALTER TABLE approvals DROP COLUMN escalated_at;
