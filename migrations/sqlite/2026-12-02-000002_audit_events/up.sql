-- The audit log: append-only, each row carrying the hash of the one before it.
CREATE TABLE audit_events (
    seq         BIGINT PRIMARY KEY NOT NULL,
    at          TIMESTAMP NOT NULL,
    actor       TEXT NOT NULL,
    action      TEXT NOT NULL,
    target      TEXT NOT NULL,
    source      TEXT NOT NULL,
    before_state TEXT,
    after_state TEXT,
    detail      TEXT,
    prev_hash   TEXT NOT NULL,
    hash        TEXT NOT NULL
);
