-- When a high or critical approval with no decision after approvals.escalate_after_secs was
-- sent to the escalation chat (telegram.escalation_chat_id); NULL: not escalated. Only raw
-- SQL touches it (claim_escalations), like warned_at.
ALTER TABLE approvals ADD COLUMN escalated_at TIMESTAMP;
