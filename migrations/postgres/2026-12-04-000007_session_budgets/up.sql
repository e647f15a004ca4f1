-- Session budgets (docs/policy.md, Budgets): `max_budget_usd` is what the session started
-- with (each budget approval raises the budget by as much), `budget_usd` what it may spend
-- in all now. NULL: no budget.
ALTER TABLE sessions ADD COLUMN max_budget_usd DOUBLE PRECISION;
ALTER TABLE sessions ADD COLUMN budget_usd DOUBLE PRECISION;
-- The daily budget per key sums the turns of the sessions a key started.
CREATE INDEX sessions_created_by ON sessions (created_by);
