-- Turns: one prompt sent to a session's agent and its result.
CREATE TABLE turns (
    id                 TEXT PRIMARY KEY NOT NULL,
    session_id         TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    seq                BIGINT NOT NULL,
    prompt             TEXT NOT NULL,
    status             TEXT NOT NULL CHECK (status IN ('Running', 'Completed', 'Failed', 'Interrupted', 'Lost')),
    started_at         TIMESTAMP NOT NULL,
    finished_at        TIMESTAMP,
    subtype            TEXT,
    is_error           BOOLEAN,
    result_text        TEXT,
    terminal_reason    TEXT,
    api_error_status   BIGINT,
    errors             TEXT,
    cost_usd           DOUBLE,
    duration_ms        BIGINT,
    duration_api_ms    BIGINT,
    message_count      BIGINT,
    permission_denials BIGINT,
    error              TEXT
);
CREATE UNIQUE INDEX ux_turns_session_seq ON turns (session_id, seq);
CREATE INDEX ix_turns_status ON turns (status);
