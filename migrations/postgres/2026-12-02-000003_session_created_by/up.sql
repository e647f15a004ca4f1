-- Who started each session (the key's principal); NULL for sessions from before.
ALTER TABLE sessions ADD COLUMN created_by TEXT;
