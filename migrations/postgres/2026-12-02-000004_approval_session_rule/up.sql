-- The permission rule an "allow for this session" decision grants (e.g. `Bash(npm test:*)`,
-- from the CLI's permission_suggestions); NULL when the call has none (then it can only be
-- allowed once).
ALTER TABLE approvals ADD COLUMN session_rule TEXT;
