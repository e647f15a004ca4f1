//! Leases in SQL: one atomic upsert takes, renews or refuses a lease.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use diesel::sql_types::{Nullable, Text, Timestamp};
use orchestra_application::ports::{LeaseHolder, LeaseRepository, RepositoryError};

use crate::models::to_naive;
use crate::schema::leases;
use crate::{Database, DbConn, map_diesel};

/// Leases in SQL.
#[derive(Debug, Clone)]
pub struct DieselLeaseRepository {
    db: Database,
}

impl DieselLeaseRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

/// Takes the lease when it is free (the insert), expired or already this node's (the
/// update's condition); the row is locked by the statement, so two nodes never both win.
fn upsert(p: [&str; 5]) -> String {
    format!(
        "INSERT INTO leases (name, node_id, advertise_url, acquired_at, expires_at) \
         VALUES ({0}, {1}, {2}, {3}, {4}) \
         ON CONFLICT (name) DO UPDATE SET node_id = excluded.node_id, \
         advertise_url = excluded.advertise_url, expires_at = excluded.expires_at, \
         acquired_at = CASE WHEN leases.node_id = excluded.node_id THEN leases.acquired_at \
         ELSE excluded.acquired_at END \
         WHERE leases.node_id = excluded.node_id OR leases.expires_at <= excluded.acquired_at",
        p[0], p[1], p[2], p[3], p[4]
    )
}

fn load_holder(conn: &mut DbConn, name: &str) -> Result<Option<LeaseHolder>, RepositoryError> {
    let row: Option<(String, Option<String>, chrono::NaiveDateTime)> = leases::table
        .find(name)
        .select((leases::node_id, leases::advertise_url, leases::expires_at))
        .first(conn)
        .optional()
        .map_err(map_diesel)?;
    Ok(row.map(|(node_id, advertise_url, expires_at)| LeaseHolder {
        node_id,
        advertise_url,
        expires_at: expires_at.and_utc(),
    }))
}

#[async_trait]
impl LeaseRepository for DieselLeaseRepository {
    async fn acquire(
        &self,
        name: &str,
        node: &str,
        advertise_url: Option<&str>,
        now: DateTime<Utc>,
        until: DateTime<Utc>,
    ) -> Result<LeaseHolder, RepositoryError> {
        let (name, node) = (name.to_owned(), node.to_owned());
        let url = advertise_url.map(str::to_owned);
        let (now, until) = (to_naive(now), to_naive(until));
        self.db
            .write("leases.acquire", move |conn| {
                match conn {
                    DbConn::Sqlite(c) => diesel::sql_query(upsert(["?1", "?2", "?3", "?4", "?5"]))
                        .bind::<Text, _>(&name)
                        .bind::<Text, _>(&node)
                        .bind::<Nullable<Text>, _>(&url)
                        .bind::<Timestamp, _>(now)
                        .bind::<Timestamp, _>(until)
                        .execute(c),
                    DbConn::Postgresql(c) => {
                        diesel::sql_query(upsert(["$1", "$2", "$3", "$4", "$5"]))
                            .bind::<Text, _>(&name)
                            .bind::<Text, _>(&node)
                            .bind::<Nullable<Text>, _>(&url)
                            .bind::<Timestamp, _>(now)
                            .bind::<Timestamp, _>(until)
                            .execute(c)
                    }
                }
                .map_err(map_diesel)?;
                load_holder(conn, &name)?.ok_or_else(|| {
                    RepositoryError::Unavailable(format!("lease {name} vanished after its upsert"))
                })
            })
            .await
    }

    async fn renew_all(
        &self,
        node: &str,
        until: DateTime<Utc>,
    ) -> Result<Vec<String>, RepositoryError> {
        let node = node.to_owned();
        let until = to_naive(until);
        self.db
            .write("leases.renew_all", move |conn| {
                diesel::update(leases::table.filter(leases::node_id.eq(&node)))
                    .set(leases::expires_at.eq(until))
                    .returning(leases::name)
                    .get_results(conn)
                    .map_err(map_diesel)
            })
            .await
    }

    async fn release(&self, name: &str, node: &str) -> Result<bool, RepositoryError> {
        let (name, node) = (name.to_owned(), node.to_owned());
        self.db
            .write("leases.release", move |conn| {
                diesel::delete(
                    leases::table
                        .filter(leases::name.eq(&name))
                        .filter(leases::node_id.eq(&node)),
                )
                .execute(conn)
                .map(|n| n == 1)
                .map_err(map_diesel)
            })
            .await
    }

    async fn release_all(&self, node: &str) -> Result<u64, RepositoryError> {
        let node = node.to_owned();
        self.db
            .write("leases.release_all", move |conn| {
                diesel::delete(leases::table.filter(leases::node_id.eq(&node)))
                    .execute(conn)
                    .map(|n| n as u64)
                    .map_err(map_diesel)
            })
            .await
    }

    async fn holder(&self, name: &str) -> Result<Option<LeaseHolder>, RepositoryError> {
        let name = name.to_owned();
        self.db
            .run("leases.holder", move |conn| load_holder(conn, &name))
            .await
    }
}
