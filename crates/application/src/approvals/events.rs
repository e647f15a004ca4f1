//! The in-process bus of approval events (opened, decided) that waiters subscribe to.

use orchestra_domain::{ApprovalId, ApprovalRequest};
use tokio::sync::broadcast;

/// Something happened to an approval in this process.
#[derive(Debug, Clone, PartialEq)]
pub enum ApprovalEvent {
    /// A new approval is Pending.
    Opened(ApprovalRequest),
    /// An approval left Pending (approved, rejected, expired or cancelled).
    Decided(ApprovalRequest),
    /// An approval left Pending, by another node or this one, as the database announced it
    /// (PostgreSQL's `LISTEN/NOTIFY`): only its id; waiters read it.
    DecidedInDatabase(ApprovalId),
}

/// In-process fan-out of approval events: the agent runtime waits on decisions here.
///
/// Subscribers that fall behind lose events (broadcast semantics); the database stays the
/// truth, so a lagging subscriber re-reads what it needs.
#[derive(Debug, Clone)]
pub struct ApprovalEvents {
    tx: broadcast::Sender<ApprovalEvent>,
}

impl ApprovalEvents {
    /// A bus that buffers up to `capacity` events per subscriber.
    pub fn new(capacity: usize) -> Self {
        let (tx, _) = broadcast::channel(capacity.max(1));
        Self { tx }
    }

    /// Publishes an event; it is fine when nobody listens.
    pub fn publish(&self, event: ApprovalEvent) {
        let _ = self.tx.send(event);
    }

    /// A new subscription that sees events published from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<ApprovalEvent> {
        self.tx.subscribe()
    }
}

impl Default for ApprovalEvents {
    fn default() -> Self {
        Self::new(1024)
    }
}
