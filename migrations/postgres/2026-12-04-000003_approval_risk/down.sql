ALTER TABLE approvals DROP COLUMN risk;
