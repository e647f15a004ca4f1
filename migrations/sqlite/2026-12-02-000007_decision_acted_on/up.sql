-- Whether each decision has been carried out on its session (the agent answered, the
-- session continued, the denial recorded). See crates/domain/src/acted_on.rs for the
-- states. `acted_by` is the node that claimed it; `acted_at` when it did.
ALTER TABLE approvals ADD COLUMN acted_on TEXT NOT NULL DEFAULT 'waiting';
ALTER TABLE approvals ADD COLUMN acted_by TEXT;
ALTER TABLE approvals ADD COLUMN acted_at TIMESTAMP;
-- Decisions from before were acted on by the Orchestra that made them (or never will be).
UPDATE approvals SET acted_on = CASE WHEN status = 'Pending' THEN 'waiting' ELSE 'done' END;
CREATE INDEX approvals_acted_on ON approvals (acted_on, decided_at);
