-- The agent's transcript of each session (the CLI's JSONL conversation file), kept so that
-- any node can resume any session: append-only parts, each starting where the stored copy
-- ended (`start_offset`, in bytes of the uncompressed file), `raw_len` bytes long,
-- DEFLATE-compressed in `data`. The primary key refuses a second part at the same offset.
CREATE TABLE transcript_parts (
    session_id   TEXT NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    start_offset BIGINT NOT NULL,
    raw_len      BIGINT NOT NULL,
    data         BYTEA NOT NULL,
    stored_at    TIMESTAMP NOT NULL,
    PRIMARY KEY (session_id, start_offset)
);
