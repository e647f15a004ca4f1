DROP TRIGGER IF EXISTS approvals_decided_notify ON approvals;
DROP FUNCTION IF EXISTS orchestra_notify_decided();
