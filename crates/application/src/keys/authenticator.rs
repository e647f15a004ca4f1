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

/// Unknown keys remembered at most (malformed ones are refused before any lookup). Known
/// keys are cached apart, so a flood of well-formed unknown keys can neither evict them nor
/// grow memory without bound.
const UNKNOWN_CAP: usize = 10_000;

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

/// Lookups by key hash: the keys that exist (as many as there are keys), and the ones that
/// do not (bounded by [`UNKNOWN_CAP`]).
#[derive(Debug, Default)]
struct Cache {
    known: HashMap<String, (Principal, Instant)>,
    unknown: HashMap<String, Instant>,
}

impl Cache {
    /// A fresh answer for `hash`: `Some(Some(who))` known, `Some(None)` known not to exist.
    fn fresh(&self, hash: &str) -> Option<Option<Principal>> {
        if let Some((who, at)) = self.known.get(hash)
            && at.elapsed() < AUTH_CACHE_TTL
        {
            return Some(Some(who.clone()));
        }
        match self.unknown.get(hash) {
            Some(at) if at.elapsed() < AUTH_CACHE_TTL => Some(None),
            _ => None,
        }
    }

    fn store(&mut self, hash: String, found: Option<Principal>) {
        match found {
            Some(who) => {
                self.unknown.remove(&hash);
                self.known.insert(hash, (who, Instant::now()));
            }
            None => {
                self.known.remove(&hash);
                if self.unknown.len() >= UNKNOWN_CAP {
                    self.unknown.clear();
                }
                self.unknown.insert(hash, Instant::now());
            }
        }
    }
}

#[derive(Debug)]
struct Inner {
    repo: Arc<dyn ApiKeyRepository>,
    cache: Mutex<Cache>,
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
                cache: Mutex::new(Cache::default()),
            }),
        }
    }

    fn cache(&self) -> MutexGuard<'_, Cache> {
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
        let cached = self.cache().fresh(&hash);
        if let Some(found) = cached {
            return found.ok_or(AuthError::Invalid);
        }
        let found = match self.inner.repo.find_by_hash(&hash).await {
            Ok(key) => key
                .filter(orchestra_domain::ApiKey::is_active)
                .map(|k| k.principal()),
            // The database is down: a key known to be good stays good until it answers
            // again (a revocation cannot be read meanwhile either), so operators can still
            // look at diagnostics; an unknown key cannot be checked.
            Err(err) => {
                let known = self.cache().known.get(&hash).map(|(who, _)| who.clone());
                return known.ok_or(AuthError::Unavailable(err));
            }
        };
        self.cache().store(hash, found.clone());
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
            cache.store(k.key_hash.clone(), Some(k.principal()));
            n += 1;
        }
        Ok(n)
    }

    /// Forgets every cached lookup (after a revocation on this node).
    pub fn forget_all(&self) {
        *self.cache() = Cache::default();
    }
}

#[cfg(test)]
mod tests {
    use orchestra_domain::Role;

    use super::*;

    #[test]
    fn a_flood_of_unknown_keys_neither_evicts_known_ones_nor_grows_without_bound() {
        let mut cache = Cache::default();
        cache.store(
            "good".into(),
            Some(Principal::api_key("ci", Role::Operator)),
        );
        for i in 0..UNKNOWN_CAP + 50 {
            cache.store(format!("bad-{i}"), None);
        }
        assert!(cache.unknown.len() <= UNKNOWN_CAP);
        assert_eq!(
            cache.fresh("good").flatten().map(|p| p.name().to_owned()),
            Some("key:ci".to_owned())
        );
        assert_eq!(
            cache.fresh(&format!("bad-{}", UNKNOWN_CAP + 49)),
            Some(None)
        );
        assert_eq!(cache.fresh("never-seen"), None);
    }

    #[test]
    fn a_key_that_became_known_or_unknown_is_cached_once() {
        let mut cache = Cache::default();
        cache.store("k".into(), None);
        cache.store("k".into(), Some(Principal::api_key("ci", Role::Viewer)));
        assert!(cache.fresh("k").flatten().is_some());
        cache.store("k".into(), None);
        assert_eq!(cache.fresh("k"), Some(None));
        assert!(cache.known.is_empty());
    }
}
