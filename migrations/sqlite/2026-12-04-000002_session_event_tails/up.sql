-- A suspended session's last turn of events (its SSE replay), kept so that the replay
-- survives the eviction of the in-memory log, a restart and a move to another node: the
-- events in their wire form (JSON lines), DEFLATE-compressed, and the sequence number the
-- next event gets. Replaced at each suspension.
CREATE TABLE session_event_tails (
    session_id TEXT PRIMARY KEY NOT NULL REFERENCES sessions (id) ON DELETE CASCADE,
    next_seq   BIGINT NOT NULL,
    raw_len    BIGINT NOT NULL,
    data       BLOB NOT NULL,
    stored_at  TIMESTAMP NOT NULL
);
