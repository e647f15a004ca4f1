-- Where an audited request came from: its request id (X-Request-Id) and the client's address.
ALTER TABLE audit_events ADD COLUMN request_id TEXT;
ALTER TABLE audit_events ADD COLUMN client_addr TEXT;
