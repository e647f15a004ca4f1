//! This node's leases (docs/adr/0004-several-nodes.md): a node runs a session's agent only
//! while it holds `session:<id>`, and polls Telegram only while it holds
//! [`TELEGRAM_POLLER`]. Leases are renewed every third of their length; a node that stops
//! renewing (killed, cut off) loses them after `node.lease_secs`, and the next request for
//! one of its sessions on another node takes the session over there (resuming it from the
//! stored transcript).

use std::sync::Arc;
use std::time::Duration;

use orchestra_domain::SessionId;

use crate::error::AppError;
use crate::metrics_names as m;
use crate::ports::{Clock, LeaseHolder, LeaseRepository, RepositoryError};

/// The lease of the one node that long-polls Telegram.
pub const TELEGRAM_POLLER: &str = "telegram:poller";

/// The lease of the one node that runs retention.
pub const RETENTION_RUNNER: &str = "retention:runner";

/// The lease name of a session.
pub fn session_lease(id: SessionId) -> String {
    format!("session:{id}")
}

/// Who this node is, and its leases.
#[derive(Debug, Clone)]
pub struct NodeLeases {
    repo: Arc<dyn LeaseRepository>,
    clock: Arc<dyn Clock>,
    node_id: String,
    advertise_url: Option<String>,
    lease: Duration,
}

impl NodeLeases {
    /// Leases of `node_id` (reachable at `advertise_url`), `lease` long.
    pub fn new(
        repo: Arc<dyn LeaseRepository>,
        clock: Arc<dyn Clock>,
        node_id: String,
        advertise_url: Option<String>,
        lease: Duration,
    ) -> Self {
        Self {
            repo,
            clock,
            node_id,
            advertise_url,
            lease,
        }
    }

    /// This node's id.
    pub fn node_id(&self) -> &str {
        &self.node_id
    }

    /// How often the held leases are renewed.
    pub fn renew_every(&self) -> Duration {
        (self.lease / 3).max(Duration::from_millis(100))
    }

    fn until(&self) -> chrono::DateTime<chrono::Utc> {
        self.clock.now()
            + chrono::Duration::from_std(self.lease).unwrap_or(chrono::Duration::seconds(15))
    }

    async fn acquire(&self, name: &str) -> Result<LeaseHolder, RepositoryError> {
        self.repo
            .acquire(
                name,
                &self.node_id,
                self.advertise_url.as_deref(),
                self.clock.now(),
                self.until(),
            )
            .await
    }

    /// Takes the session for this node before its agent starts here. 409
    /// `session_owned_elsewhere` (with the owner) when another node's unexpired lease has it.
    ///
    /// # Errors
    /// That conflict, or the database's error.
    pub async fn take_session(&self, id: SessionId) -> Result<(), AppError> {
        let holder = self.acquire(&session_lease(id)).await?;
        if holder.node_id == self.node_id {
            return Ok(());
        }
        metrics::counter!(m::NODE_SESSION_LEASE_REFUSALS_TOTAL).increment(1);
        Err(owned_elsewhere(id, &holder))
    }

    /// Gives the session up (its agent stopped here). A failure only delays another node's
    /// takeover until the lease expires.
    pub async fn release_session(&self, id: SessionId) {
        if let Err(err) = self.repo.release(&session_lease(id), &self.node_id).await {
            tracing::warn!(session.id = %id, error = %err, "could not release the session's lease; it expires by itself");
        }
    }

    /// The other live node that runs the session, if one does.
    ///
    /// # Errors
    /// The database's error.
    pub async fn owner_elsewhere(&self, id: SessionId) -> Result<Option<LeaseHolder>, AppError> {
        let now = self.clock.now();
        Ok(self
            .repo
            .holder(&session_lease(id))
            .await?
            .filter(|h| h.node_id != self.node_id && h.expires_at > now))
    }

    /// Renews every lease this node holds (the heartbeat); returns their names.
    ///
    /// # Errors
    /// The database's error.
    pub async fn renew(&self) -> Result<Vec<String>, RepositoryError> {
        self.repo.renew_all(&self.node_id, self.until()).await
    }

    /// Takes or keeps a node-wide role such as [`TELEGRAM_POLLER`]; true while this node
    /// has it. A database error counts as not having it.
    pub async fn lead(&self, name: &str) -> bool {
        match self.acquire(name).await {
            Ok(holder) => holder.node_id == self.node_id,
            Err(err) => {
                tracing::warn!(lease = name, error = %err, "could not take or renew the lease; not acting on it");
                false
            }
        }
    }

    /// Gives up every lease (a graceful stop): the other nodes take over at once.
    pub async fn release_all(&self) {
        match self.repo.release_all(&self.node_id).await {
            Ok(n) => tracing::info!(leases = n, "leases released"),
            Err(err) => {
                tracing::warn!(error = %err, "could not release the leases; they expire by themselves");
            }
        }
    }
}

fn owned_elsewhere(id: SessionId, holder: &LeaseHolder) -> AppError {
    AppError::OwnedElsewhere {
        session: id,
        owner: holder.clone(),
    }
}
