//! Event-log tails in memory.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::SessionId;

use crate::ports::{EventTailRepository, RepositoryError, StoredTail};

/// Event-log tails in a map.
#[derive(Debug, Default)]
pub struct InMemoryEventTailRepository {
    tails: Mutex<HashMap<SessionId, StoredTail>>,
}

impl InMemoryEventTailRepository {
    fn map(&self) -> std::sync::MutexGuard<'_, HashMap<SessionId, StoredTail>> {
        self.tails
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }
}

#[async_trait]
impl EventTailRepository for InMemoryEventTailRepository {
    async fn save(
        &self,
        session: SessionId,
        tail: StoredTail,
        _at: DateTime<Utc>,
    ) -> Result<(), RepositoryError> {
        self.map().insert(session, tail);
        Ok(())
    }

    async fn load(&self, session: SessionId) -> Result<Option<StoredTail>, RepositoryError> {
        Ok(self.map().get(&session).cloned())
    }

    async fn delete(&self, session: SessionId) -> Result<(), RepositoryError> {
        self.map().remove(&session);
        Ok(())
    }
}
