-- Agent sessions and approval requests. Timestamps are UTC.
CREATE TABLE sessions (
    id                   TEXT PRIMARY KEY NOT NULL,
    agent_id             TEXT NOT NULL,
    working_directory    TEXT NOT NULL,
    model                TEXT,
    permission_mode      TEXT NOT NULL,
    allowed_tools        TEXT NOT NULL DEFAULT '[]',
    disallowed_tools     TEXT NOT NULL DEFAULT '[]',
    append_system_prompt TEXT,
    max_turns            INTEGER,
    status               TEXT NOT NULL CHECK (status IN ('Active', 'Paused', 'Closed', 'Failed')),
    total_cost_usd       DOUBLE PRECISION NOT NULL DEFAULT 0,
    total_duration_ms    BIGINT NOT NULL DEFAULT 0,
    message_count        BIGINT NOT NULL DEFAULT 0,
    turn_count           BIGINT NOT NULL DEFAULT 0,
    last_error           TEXT,
    created_at           TIMESTAMP NOT NULL,
    updated_at           TIMESTAMP NOT NULL,
    closed_at            TIMESTAMP,
    version              BIGINT NOT NULL DEFAULT 0
);
-- Lists are ordered by (created_at, id), newest first; these indexes serve them without a sort.
CREATE INDEX ix_sessions_status_created ON sessions (status, created_at, id);
CREATE INDEX ix_sessions_created ON sessions (created_at, id);

CREATE TABLE approvals (
    id               TEXT PRIMARY KEY NOT NULL,
    session_id       TEXT NOT NULL,
    agent_id         TEXT NOT NULL,
    tool_name        TEXT NOT NULL,
    tool_input       TEXT NOT NULL,
    tool_use_id      TEXT,
    kind             TEXT NOT NULL CHECK (kind IN ('Live', 'Denial', 'Test')),
    description      TEXT,
    status           TEXT NOT NULL CHECK (status IN ('Pending', 'Approved', 'Rejected', 'Expired', 'Cancelled')),
    created_at       TIMESTAMP NOT NULL,
    expires_at       TIMESTAMP NOT NULL,
    decided_by       TEXT,
    decided_at       TIMESTAMP,
    reason           TEXT,
    updated_input    TEXT,
    scope            TEXT NOT NULL DEFAULT 'Once' CHECK (scope IN ('Once', 'Session')),
    notification_ref TEXT
);
CREATE INDEX ix_approvals_status_expires ON approvals (status, expires_at);
CREATE INDEX ix_approvals_status_created ON approvals (status, created_at, id);
CREATE INDEX ix_approvals_session_created ON approvals (session_id, created_at, id);
CREATE INDEX ix_approvals_created ON approvals (created_at, id);
