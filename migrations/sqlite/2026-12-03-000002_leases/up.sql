-- Leases between nodes sharing one database (docs/adr/0004-several-nodes.md): `session:<id>`
-- is held by the node that runs the session's agent process, `telegram:poller` by the one
-- node that polls Telegram. A node renews what it holds every third of `node.lease_secs`;
-- a lease past `expires_at` may be taken by any node.
CREATE TABLE leases (
    name          TEXT PRIMARY KEY NOT NULL,
    node_id       TEXT NOT NULL,
    advertise_url TEXT,
    acquired_at   TIMESTAMP NOT NULL,
    expires_at    TIMESTAMP NOT NULL
);
CREATE INDEX ix_leases_node ON leases (node_id);
