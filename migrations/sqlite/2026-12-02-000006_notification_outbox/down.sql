DROP INDEX approvals_outbox_due;
ALTER TABLE approvals DROP COLUMN notify_after;
ALTER TABLE approvals DROP COLUMN notify_error;
ALTER TABLE approvals DROP COLUMN notify_attempts;
ALTER TABLE approvals DROP COLUMN notification;
