//! Leases between the nodes that share one database: who runs a session's agent, who polls
//! Telegram. A lease is a row with its holder and an expiry; the holder renews it, and once
//! it has expired any node may take it.

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;

/// Who holds a lease, until when.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LeaseHolder {
    /// The node's id (`claude.node_id`).
    pub node_id: String,
    /// Where the node answers (`node.advertise_url`), if it said.
    pub advertise_url: Option<String>,
    /// Until when; after that any node may take the lease.
    pub expires_at: DateTime<Utc>,
}

/// Leases in the database.
#[async_trait]
pub trait LeaseRepository: Send + Sync + std::fmt::Debug {
    /// Takes `name` for `node` until `until` when it is free, expired at `now`, or `node`'s
    /// already (then it is renewed), in one atomic statement. Returns the holder after the
    /// attempt: `node` when it got the lease, the other node when not.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn acquire(
        &self,
        name: &str,
        node: &str,
        advertise_url: Option<&str>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<LeaseHolder, RepositoryError>;

    /// Renews every lease `node` holds until `until`; returns their names.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn renew_all(
        &self,
        node: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<String>, RepositoryError>;

    /// Gives `name` up if `node` holds it; true when it did.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn release(&self, name: &str, node: &str) -> Result<bool, RepositoryError>;

    /// Gives up every lease `node` holds (a graceful stop); returns how many.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn release_all(&self, node: &str) -> Result<u64, RepositoryError>;

    /// The holder of `name`, expired or not.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn holder(&self, name: &str) -> Result<Option<LeaseHolder>, RepositoryError>;
}
