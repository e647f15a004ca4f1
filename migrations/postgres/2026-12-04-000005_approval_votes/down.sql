ALTER TABLE approvals DROP COLUMN quorum;
