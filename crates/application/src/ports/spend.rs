//! The spend port: what the sessions one API key started spent since a time (the daily
//! budget per key, `budgets.daily_key_usd`).

use async_trait::async_trait;
use chrono::{DateTime, Utc};

use super::RepositoryError;

/// Reads what was spent.
#[async_trait]
pub trait SpendRepository: Send + Sync + std::fmt::Debug {
    /// USD the turns started since `since` cost, over the sessions `key` started.
    ///
    /// # Errors
    /// `Unavailable`.
    async fn spent_by_key_since(
        &self,
        key: &str,
        since: DateTime<Utc>,
    ) -> Result<f64, RepositoryError>;
}
