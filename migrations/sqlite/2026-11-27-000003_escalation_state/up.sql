-- Escalation state: when an approval's expiry warning went out, and small key/value state of
-- the human channels (the Telegram update offset).
ALTER TABLE approvals ADD COLUMN warned_at TIMESTAMP;

CREATE TABLE channel_state (
    key        TEXT PRIMARY KEY NOT NULL,
    value      TEXT NOT NULL,
    updated_at TIMESTAMP NOT NULL
);
