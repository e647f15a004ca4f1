//! Leases in a map.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::lock;
use crate::ports::{LeaseHolder, LeaseRepository, RepositoryError};

/// Leases by name.
#[derive(Debug, Default)]
pub struct InMemoryLeaseRepository {
    leases: Mutex<HashMap<String, LeaseHolder>>,
}

#[async_trait]
impl LeaseRepository for InMemoryLeaseRepository {
    async fn acquire(
        &self,
        name: &str,
        node: &str,
        advertise_url: Option<&str>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<LeaseHolder, RepositoryError> {
        let mut leases = lock(&self.leases);
        let free = leases
            .get(name)
            .is_none_or(|h| h.node_id == node || h.expires_at <= now);
        if free {
            leases.insert(
                name.to_owned(),
                LeaseHolder {
                    node_id: node.to_owned(),
                    advertise_url: advertise_url.map(str::to_owned),
                    expires_at: until,
                },
            );
        }
        Ok(leases[name].clone())
    }

    async fn renew_all(
        &self,
        node: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<String>, RepositoryError> {
        let mut leases = lock(&self.leases);
        let mut names = Vec::new();
        for (name, h) in leases.iter_mut().filter(|(_, h)| h.node_id == node) {
            h.expires_at = until;
            names.push(name.clone());
        }
        Ok(names)
    }

    async fn release(&self, name: &str, node: &str) -> Result<bool, RepositoryError> {
        let mut leases = lock(&self.leases);
        if leases.get(name).is_some_and(|h| h.node_id == node) {
            leases.remove(name);
            return Ok(true);
        }
        Ok(false)
    }

    async fn release_all(&self, node: &str) -> Result<u64, RepositoryError> {
        let mut leases = lock(&self.leases);
        let before = leases.len();
        leases.retain(|_, h| h.node_id != node);
        Ok((before - leases.len()) as u64)
    }

    async fn holder(&self, name: &str) -> Result<Option<LeaseHolder>, RepositoryError> {
        Ok(lock(&self.leases).get(name).cloned())
    }
}
