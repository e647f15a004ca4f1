-- The notification outbox: where the human channel stands with each approval, and when the
-- next delivery attempt is due. See crates/domain/src/notification.rs for the states.
ALTER TABLE approvals ADD COLUMN notification TEXT NOT NULL DEFAULT 'pending';
ALTER TABLE approvals ADD COLUMN notify_attempts INTEGER NOT NULL DEFAULT 0;
ALTER TABLE approvals ADD COLUMN notify_error TEXT;
ALTER TABLE approvals ADD COLUMN notify_after TIMESTAMP;
-- Approvals from before: delivered ones are sent (or updated, once decided); undelivered
-- decided ones are left alone rather than announced late.
UPDATE approvals SET notification = CASE
    WHEN notification_ref IS NOT NULL AND status = 'Pending' THEN 'sent'
    WHEN notification_ref IS NOT NULL THEN 'updated'
    WHEN status = 'Pending' THEN 'pending'
    ELSE 'failed' END;
CREATE INDEX approvals_outbox_due ON approvals (notification, notify_after);
