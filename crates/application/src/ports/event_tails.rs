//! A suspended session's last turn of events, kept in the database so that its SSE replay
//! survives the eviction of the in-memory log, a restart, and a move to another node.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::SessionId;

use super::RepositoryError;

/// The stored tail of a session's event log.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StoredTail {
    /// The sequence number the session's next event gets (so ids keep increasing).
    pub next_seq: u64,
    /// The events in their wire form, one JSON object per line, oldest first.
    pub events: Vec<u8>,
}

/// Event-log tails in the database, one per session, replaced on each save.
#[async_trait]
pub trait EventTailRepository: Send + Sync + std::fmt::Debug {
    /// Stores the session's tail in place of the one stored before.
    ///
    /// # Errors
    /// `Unavailable`; `NotFound` when the session does not exist.
    async fn save(
        &self,
        session: SessionId,
        tail: StoredTail,
        at: DateTime<Utc>,
    ) -> Result<(), RepositoryError>;

    /// The stored tail, if any.
    ///
    /// # Errors
    /// `Unavailable`; `Corrupt` when it cannot be read back.
    async fn load(&self, session: SessionId) -> Result<Option<StoredTail>, RepositoryError>;

    /// Drops the session's tail (it was closed: nothing will replay it).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn delete(&self, session: SessionId) -> Result<(), RepositoryError>;
}
