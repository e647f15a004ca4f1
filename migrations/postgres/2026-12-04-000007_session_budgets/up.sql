-- Session budgets (docs/policy.md, Budgets): `max_budget_usd` is what the session started
-- with (each budget approval raises the budget by as much), `budget_usd` what it may spend
-- in all now. NULL: no budget.
ALTER TABLE sessions ADD COLUMN max_budget_usd DOUBLE PRECISION;
ALTER TABLE sessions ADD COLUMN budget_usd DOUBLE PRECISION;
-- Turn caps likewise: `max_session_turns` the cap it started with, `turn_budget` now.
ALTER TABLE sessions ADD COLUMN max_session_turns INTEGER;
ALTER TABLE sessions ADD COLUMN turn_budget INTEGER;
-- The daily budget per key sums the turns of the sessions a key started.
CREATE INDEX sessions_created_by ON sessions (created_by);
