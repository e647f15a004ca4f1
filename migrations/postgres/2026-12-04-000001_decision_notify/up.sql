-- Decisions reach the node whose agent waits for them at once (docs/adr/0004-several-nodes.md):
-- every approval that leaves Pending, by any path (a decision on any node, the expiry sweep,
-- a cancellation), sends its id on the channel `orchestra_decisions` when its transaction
-- commits. Nodes LISTEN on it; the database poll stays as the fallback.
CREATE FUNCTION orchestra_notify_decided() RETURNS trigger AS $$
BEGIN
    PERFORM pg_notify('orchestra_decisions', NEW.id);
    RETURN NULL;
END
$$ LANGUAGE plpgsql;

CREATE TRIGGER approvals_decided_notify
    AFTER UPDATE OF status ON approvals
    FOR EACH ROW
    WHEN (OLD.status = 'Pending' AND NEW.status <> 'Pending')
    EXECUTE FUNCTION orchestra_notify_decided();
