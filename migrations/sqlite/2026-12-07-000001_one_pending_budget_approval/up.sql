-- At most one Pending budget approval per session, whichever node opens it: a second
-- insert fails and its opener takes the one that waits (docs/policy.md, Budgets).
CREATE UNIQUE INDEX approvals_one_pending_budget ON approvals (session_id)
    WHERE kind = 'Budget' AND status = 'Pending';
