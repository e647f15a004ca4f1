//! API keys in SQL: insert, look up by hash, list, revoke.

use async_trait::async_trait;
use chrono::{DateTime, NaiveDateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::{ApiKeyRepository, RepositoryError};
use orchestra_domain::ApiKey;

use crate::models::to_naive;
use crate::schema::api_keys;
use crate::{Database, map_diesel};

#[derive(Debug, Clone, Queryable, Selectable, Insertable)]
#[diesel(table_name = api_keys)]
struct ApiKeyRow {
    name: String,
    role: String,
    key_hash: String,
    prefix: String,
    created_at: NaiveDateTime,
    revoked_at: Option<NaiveDateTime>,
}

impl From<&ApiKey> for ApiKeyRow {
    fn from(k: &ApiKey) -> Self {
        Self {
            name: k.name.clone(),
            role: k.role.as_str().to_owned(),
            key_hash: k.key_hash.clone(),
            prefix: k.prefix.clone(),
            created_at: to_naive(k.created_at),
            revoked_at: k.revoked_at.map(to_naive),
        }
    }
}

impl TryFrom<ApiKeyRow> for ApiKey {
    type Error = RepositoryError;

    fn try_from(r: ApiKeyRow) -> Result<Self, Self::Error> {
        Ok(Self {
            role: r
                .role
                .parse()
                .map_err(|e| RepositoryError::Corrupt(format!("api key role: {e}")))?,
            name: r.name,
            key_hash: r.key_hash,
            prefix: r.prefix,
            created_at: r.created_at.and_utc(),
            revoked_at: r.revoked_at.map(|t| t.and_utc()),
        })
    }
}

/// API keys in SQL.
#[derive(Debug, Clone)]
pub struct DieselApiKeyRepository {
    db: Database,
}

impl DieselApiKeyRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

#[async_trait]
impl ApiKeyRepository for DieselApiKeyRepository {
    async fn insert(&self, key: &ApiKey) -> Result<(), RepositoryError> {
        let row = ApiKeyRow::from(key);
        self.db
            .write("api_keys.insert", move |conn| {
                diesel::insert_into(api_keys::table)
                    .values(&row)
                    .execute(conn)
                    .map(|_| ())
                    .map_err(map_diesel)
            })
            .await
    }

    async fn find_by_hash(&self, key_hash: &str) -> Result<Option<ApiKey>, RepositoryError> {
        let key_hash = key_hash.to_owned();
        let row = self
            .db
            .run("api_keys.find_by_hash", move |conn| {
                api_keys::table
                    .filter(api_keys::key_hash.eq(&key_hash))
                    .select(ApiKeyRow::as_select())
                    .first(conn)
                    .optional()
                    .map_err(map_diesel)
            })
            .await?;
        row.map(ApiKey::try_from).transpose()
    }

    async fn list(&self) -> Result<Vec<ApiKey>, RepositoryError> {
        let rows = self
            .db
            .run("api_keys.list", move |conn| {
                api_keys::table
                    .order((api_keys::created_at.asc(), api_keys::name.asc()))
                    .select(ApiKeyRow::as_select())
                    .load(conn)
                    .map_err(map_diesel)
            })
            .await?;
        rows.into_iter().map(ApiKey::try_from).collect()
    }

    async fn revoke(&self, name: &str, now: DateTime<Utc>) -> Result<bool, RepositoryError> {
        let (name, now) = (name.to_owned(), to_naive(now));
        self.db
            .write("api_keys.revoke", move |conn| {
                diesel::update(
                    api_keys::table
                        .filter(api_keys::name.eq(&name))
                        .filter(api_keys::revoked_at.is_null()),
                )
                .set(api_keys::revoked_at.eq(Some(now)))
                .execute(conn)
                .map(|n| n > 0)
                .map_err(map_diesel)
            })
            .await
    }
}
