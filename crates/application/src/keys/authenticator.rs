//! Checks a presented key: its shape, then its hash against the stored keys, with a short
//! cache so that a request costs a hash and a map lookup, not a database round trip.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::{Duration, Instant};

use orchestra_domain::Principal;

use super::{hash_key, looks_like_key};
use crate::ports::ApiKeyRepository;

/// How long a lookup's result is trusted; a key revoked on another node stops working
/// within this time (at once on the node that revoked it).
pub const AUTH_CACHE_TTL: Duration = Duration::from_secs(10);

/// Entries kept at most (garbage keys are refused before they reach the cache).
const CACHE_CAP: usize = 10_000;

/// Why a request is not authenticated.
#[derive(Debug, thiserror::Error)]
pub enum AuthError {
    /// No key was presented.
    #[error("an API key is required (Authorization: Bearer <key>)")]
    Missing,
    /// The key is unknown, revoked or malformed.
    #[error("the API key is not valid")]
    Invalid,
    /// The keys cannot be read now.
    #[error("the API keys cannot be read now")]
    Unavailable(#[source] crate::ports::RepositoryError),
}

#[derive(Debug)]
struct Inner {
    repo: Arc<dyn ApiKeyRepository>,
    cache: Mutex<HashMap<String, (Option<Principal>, Instant)>>,
}

/// Authenticates requests. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Authenticator {
    inner: Arc<Inner>,
}

impl Authenticator {
    /// An authenticator over the key repository.
    pub fn new(repo: Arc<dyn ApiKeyRepository>) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                cache: Mutex::new(HashMap::new()),
            }),
        }
    }

    fn cache(&self) -> MutexGuard<'_, HashMap<String, (Option<Principal>, Instant)>> {
        self.inner
            .cache
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// The principal of `presented` (the bearer token).
    ///
    /// # Errors
    /// `Invalid` for a malformed, unknown or revoked key; `Unavailable` when the keys
    /// cannot be read.
    pub async fn authenticate(&self, presented: &str) -> Result<Principal, AuthError> {
        if !looks_like_key(presented) {
            return Err(AuthError::Invalid);
        }
        let hash = hash_key(presented);
        if let Some((found, at)) = self.cache().get(&hash)
            && at.elapsed() < AUTH_CACHE_TTL
        {
            return found.clone().ok_or(AuthError::Invalid);
        }
        let found = match self.inner.repo.find_by_hash(&hash).await {
            Ok(key) => key
                .filter(orchestra_domain::ApiKey::is_active)
                .map(|k| k.principal()),
            // The database is down: a key known to be good stays good until it answers
            // again (a revocation cannot be read meanwhile either), so operators can still
            // look at diagnostics; an unknown key cannot be checked.
            Err(err) => {
                return match self.cache().get(&hash) {
                    Some((Some(who), _)) => Ok(who.clone()),
                    _ => Err(AuthError::Unavailable(err)),
                };
            }
        };
        let mut cache = self.cache();
        if cache.len() >= CACHE_CAP {
            cache.clear();
        }
        cache.insert(hash, (found.clone(), Instant::now()));
        found.ok_or(AuthError::Invalid)
    }

    /// Loads every active key into the cache (at start), so that known keys keep working
    /// through a database outage.
    ///
    /// # Errors
    /// When the keys cannot be read.
    pub async fn warm(&self) -> Result<usize, crate::ports::RepositoryError> {
        let keys = self.inner.repo.list().await?;
        let mut cache = self.cache();
        let mut n = 0;
        for k in keys.into_iter().filter(orchestra_domain::ApiKey::is_active) {
            cache.insert(k.key_hash.clone(), (Some(k.principal()), Instant::now()));
            n += 1;
        }
        Ok(n)
    }

    /// Forgets every cached lookup (after a revocation on this node).
    pub fn forget_all(&self) {
        self.cache().clear();
    }
}
