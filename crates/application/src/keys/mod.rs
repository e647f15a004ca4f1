//! API keys: made (the key shown once, only its SHA-256 kept), listed, revoked, and checked
//! on every request by the [`Authenticator`].

mod authenticator;

use std::sync::Arc;

use orchestra_domain::{ApiKey, Role};
use sha2::{Digest, Sha256};

pub use authenticator::{AuthError, Authenticator};

use crate::audit::{AuditRecord, AuditTrail};
use crate::error::AppError;
use crate::ports::{ApiKeyRepository, Clock};

/// What every key starts with (so a leaked key is recognisable, and garbage is refused
/// without a lookup).
pub const KEY_PREFIX: &str = "orch_";

/// Characters of a key after the prefix: 32 random bytes in hex.
const KEY_HEX_LEN: usize = 64;

/// SHA-256 of `key`, lower-case hex: what is stored and looked up. A key has 256 random
/// bits, so a fast hash is enough (no password stretching needed).
pub fn hash_key(key: &str) -> String {
    let digest = Sha256::digest(key.as_bytes());
    digest.iter().map(|b| format!("{b:02x}")).collect()
}

/// The console's CSRF token for a browser signed in with `key`: a hash of the key under
/// its own label, so every node derives the same token without shared state, and the token
/// tells nothing about the key (nor is it a key's stored hash).
pub fn console_csrf_token(key: &str) -> String {
    hash_key(&format!("orchestra console csrf\0{key}"))
}

/// Whether `key` has the shape of a key Orchestra makes.
pub fn looks_like_key(key: &str) -> bool {
    key.strip_prefix(KEY_PREFIX).is_some_and(|rest| {
        rest.len() == KEY_HEX_LEN && rest.bytes().all(|b| b.is_ascii_hexdigit())
    })
}

/// A fresh key from the operating system's random source.
///
/// # Errors
/// `Unavailable` when the OS cannot give random bytes.
fn generate_key() -> Result<String, AppError> {
    let mut bytes = [0u8; 32];
    getrandom::fill(&mut bytes).map_err(|e| AppError::Unavailable {
        what: "random source",
        source: Box::new(std::io::Error::other(e.to_string())),
    })?;
    let hex: String = bytes.iter().map(|b| format!("{b:02x}")).collect();
    Ok(format!("{KEY_PREFIX}{hex}"))
}

/// Handles "make an API key".
#[derive(Debug, Clone)]
pub struct CreateApiKeyHandler {
    repo: Arc<dyn ApiKeyRepository>,
    clock: Arc<dyn Clock>,
    audit: Option<(AuditTrail, String)>,
}

impl CreateApiKeyHandler {
    /// A handler over the key repository.
    pub fn new(repo: Arc<dyn ApiKeyRepository>, clock: Arc<dyn Clock>) -> Self {
        Self {
            repo,
            clock,
            audit: None,
        }
    }

    /// Records every key made in `audit`, as done by `actor`.
    #[must_use]
    pub fn with_audit(mut self, audit: AuditTrail, actor: &str) -> Self {
        self.audit = Some((audit, actor.to_owned()));
        self
    }

    /// Makes a key named `name` with `role`. Returns the stored key and the key itself,
    /// which is not kept anywhere: show it once.
    ///
    /// # Errors
    /// `Invalid` for a bad name; `Conflict` when the name is taken; `Unavailable`.
    pub async fn handle(&self, name: &str, role: Role) -> Result<(ApiKey, String), AppError> {
        ApiKey::check_name(name).map_err(|e| AppError::invalid("name", e.to_string()))?;
        let secret = generate_key()?;
        let key = ApiKey {
            name: name.to_owned(),
            role,
            key_hash: hash_key(&secret),
            prefix: secret.chars().take(KEY_PREFIX.len() + 6).collect(),
            created_at: self.clock.now(),
            revoked_at: None,
        };
        self.repo.insert(&key).await?;
        tracing::info!(key.name = %key.name, key.role = %key.role, "API key created");
        if let Some((audit, actor)) = &self.audit {
            audit
                .record(
                    AuditRecord::new(actor, "key.create", &key.name)
                        .states("-", key.role.as_str())
                        .detail(Some(format!("prefix {}", key.prefix))),
                )
                .await;
        }
        Ok((key, secret))
    }
}

/// Handles "list the API keys".
#[derive(Debug, Clone)]
pub struct ListApiKeysHandler {
    repo: Arc<dyn ApiKeyRepository>,
}

impl ListApiKeysHandler {
    /// A handler over the key repository.
    pub fn new(repo: Arc<dyn ApiKeyRepository>) -> Self {
        Self { repo }
    }

    /// Every key (hashes and prefixes only), oldest first.
    ///
    /// # Errors
    /// `Unavailable`.
    pub async fn handle(&self) -> Result<Vec<ApiKey>, AppError> {
        Ok(self.repo.list().await?)
    }
}

/// Handles "revoke an API key".
#[derive(Debug, Clone)]
pub struct RevokeApiKeyHandler {
    repo: Arc<dyn ApiKeyRepository>,
    clock: Arc<dyn Clock>,
    authenticator: Option<Authenticator>,
    audit: Option<(AuditTrail, String)>,
}

impl RevokeApiKeyHandler {
    /// Records every revocation in `audit`, as done by `actor`.
    #[must_use]
    pub fn with_audit(mut self, audit: AuditTrail, actor: &str) -> Self {
        self.audit = Some((audit, actor.to_owned()));
        self
    }

    /// A handler over the key repository; `authenticator` (this process's) forgets the key
    /// at once, other processes within their cache lifetime.
    pub fn new(
        repo: Arc<dyn ApiKeyRepository>,
        clock: Arc<dyn Clock>,
        authenticator: Option<Authenticator>,
    ) -> Self {
        Self {
            repo,
            clock,
            authenticator,
            audit: None,
        }
    }

    /// Revokes the key named `name`.
    ///
    /// # Errors
    /// `NotFound` when no active key has that name; `Unavailable`.
    pub async fn handle(&self, name: &str) -> Result<(), AppError> {
        if !self.repo.revoke(name, self.clock.now()).await? {
            return Err(AppError::not_found("api key", name));
        }
        if let Some(a) = &self.authenticator {
            a.forget_all();
        }
        tracing::info!(key.name = %name, "API key revoked");
        if let Some((audit, actor)) = &self.audit {
            audit
                .record(AuditRecord::new(actor, "key.revoke", name).states("active", "revoked"))
                .await;
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests;
