//! The API key repository port: keys are stored by the hash of the key, never the key.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::ApiKey;

use super::RepositoryError;

/// Stores API keys.
#[async_trait]
pub trait ApiKeyRepository: Send + Sync + std::fmt::Debug {
    /// Stores a new key.
    ///
    /// # Errors
    /// `Conflict` when a key of that name (or hash) exists; `Unavailable`.
    async fn insert(&self, key: &ApiKey) -> Result<(), RepositoryError>;

    /// The key whose hash is `key_hash`, revoked or not.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn find_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, RepositoryError>;

    /// Every key, oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn list(&self) -> Result<Vec<ApiKey>, RepositoryError>;

    /// Revokes the active key named `name`; false when there is none.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn revoke(&self, name: &str, now: DateTime<Utc>) -> Result<bool, RepositoryError>;
}
