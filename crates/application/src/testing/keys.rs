//! API keys in memory, honouring the repository contract (unique names and hashes).

use std::sync::{Mutex, MutexGuard};

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use crate::ports::RepositoryError;

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

/// API keys in memory.
#[derive(Debug, Default)]
pub struct InMemoryApiKeyRepository {
    keys: Mutex<Vec<orchestra_domain::ApiKey>>,
}

#[async_trait]
impl crate::ports::ApiKeyRepository for InMemoryApiKeyRepository {
    async fn insert(&self, key: &orchestra_domain::ApiKey) -> Result<(), RepositoryError> {
        let mut keys = lock(&self.keys);
        if keys
            .iter()
            .any(|k| k.name == key.name || k.key_hash == key.key_hash)
        {
            return Err(RepositoryError::Conflict(format!(
                "an API key named `{}` exists",
                key.name
            )));
        }
        keys.push(key.clone());
        Ok(())
    }

    async fn find_by_hash(
        &self,
        key_hash: &str,
    ) -> Result<Option<orchestra_domain::ApiKey>, RepositoryError> {
        Ok(lock(&self.keys)
            .iter()
            .find(|k| k.key_hash == key_hash)
            .cloned())
    }

    async fn list(&self) -> Result<Vec<orchestra_domain::ApiKey>, RepositoryError> {
        Ok(lock(&self.keys).clone())
    }

    async fn revoke(&self, name: &str, now: DateTime<Utc>) -> Result<bool, RepositoryError> {
        let mut keys = lock(&self.keys);
        match keys
            .iter_mut()
            .find(|k| k.name == name && k.revoked_at.is_none())
        {
            Some(k) => {
                k.revoked_at = Some(now);
                Ok(true)
            }
            None => Ok(false),
        }
    }
}
