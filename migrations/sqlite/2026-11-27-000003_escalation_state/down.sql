DROP TABLE channel_state;
ALTER TABLE approvals DROP COLUMN warned_at;
