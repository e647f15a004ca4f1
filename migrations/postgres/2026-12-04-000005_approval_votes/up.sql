-- Approvals that need several approvers (a critical call: approvals.critical_approvers):
-- `quorum` is a JSON object {"needed": N, "votes": [{"by", "at"}, ...]}, fixed at N when
-- the approval is asked, with each approver's yes so far (kept once decided). NULL: one
-- approver decides, as before. (One column: the approvals table is at diesel's 32.)
ALTER TABLE approvals ADD COLUMN quorum TEXT;
