DROP INDEX sessions_created_by;
ALTER TABLE sessions DROP COLUMN turn_budget;
ALTER TABLE sessions DROP COLUMN max_session_turns;
ALTER TABLE sessions DROP COLUMN budget_usd;
ALTER TABLE sessions DROP COLUMN max_budget_usd;
