//! Migrations apply, revert (down.sql) and re-apply on both backends.

use diesel::prelude::*;
use diesel::sql_types::BigInt;
use orchestra_db::{Database, DatabaseTarget, DbConn, Migrations, PoolSettings};
use orchestra_tests::pg::TestDatabase;

#[derive(QueryableByName)]
struct Count {
    #[diesel(sql_type = BigInt)]
    n: i64,
}

fn user_tables(conn: &mut DbConn) -> i64 {
    let row: Count = match conn {
        DbConn::Sqlite(c) => diesel::sql_query(
            "SELECT COUNT(*) AS n FROM sqlite_master WHERE type = 'table' AND name IN ('sessions', 'approvals')",
        )
        .get_result(c),
        DbConn::Postgresql(c) => diesel::sql_query(
            "SELECT COUNT(*)::BIGINT AS n FROM information_schema.tables \
             WHERE table_schema = 'public' AND table_name IN ('sessions', 'approvals')",
        )
        .get_result(c),
    }
    .unwrap();
    row.n
}

fn up_down_up(connection_string: &str) {
    let db = Database::open(
        DatabaseTarget::parse(connection_string).unwrap(),
        PoolSettings::default(),
    )
    .unwrap();
    let mut conn = db.checkout().unwrap();
    let before = Migrations::state(&mut conn).unwrap();
    assert!(before.pending() >= 1);
    assert_eq!(before.applied(), 0);
    assert_eq!(user_tables(&mut conn), 0);

    let applied = Migrations::apply_pending(&mut conn).unwrap();
    assert_eq!(applied.len(), before.pending());
    assert_eq!(user_tables(&mut conn), 2);
    assert_eq!(Migrations::state(&mut conn).unwrap().pending(), 0);

    for _ in 0..applied.len() {
        Migrations::revert_last(&mut conn).unwrap();
    }
    assert_eq!(
        user_tables(&mut conn),
        0,
        "down.sql must remove what up.sql created"
    );
    assert_eq!(Migrations::state(&mut conn).unwrap().applied(), 0);

    Migrations::apply_pending(&mut conn).unwrap();
    assert_eq!(user_tables(&mut conn), 2);
    assert_eq!(
        Migrations::state(&mut conn).unwrap().current_version(),
        applied.last().map(String::as_str)
    );
}

#[test]
fn sqlite_migrations_go_up_down_and_up_again() {
    let dir = tempfile::tempdir().unwrap();
    up_down_up(&format!(
        "Data Source={}",
        dir.path().join("m.db").display()
    ));
}

#[test]
fn postgres_migrations_go_up_down_and_up_again() {
    let db = TestDatabase::empty();
    up_down_up(&db.url());
}

#[derive(QueryableByName)]
struct Synchronous {
    #[diesel(sql_type = BigInt)]
    synchronous: i64,
}

/// SQLite syncs every commit by default (`synchronous = FULL`, 2); `normal` (1) only when
/// configured.
#[test]
fn sqlite_connections_sync_every_commit_by_default() {
    let dir = tempfile::tempdir().unwrap();
    let cs = format!("Data Source={}", dir.path().join("sync.db").display());
    for (full, expected) in [(true, 2), (false, 1)] {
        let db = Database::open(
            DatabaseTarget::parse(&cs).unwrap(),
            PoolSettings {
                sqlite_full_sync: full,
                ..PoolSettings::default()
            },
        )
        .unwrap();
        let mut conn = db.checkout().unwrap();
        let DbConn::Sqlite(c) = &mut *conn else {
            panic!("not SQLite")
        };
        let got: Synchronous = diesel::sql_query("PRAGMA synchronous")
            .get_result(c)
            .unwrap();
        assert_eq!(got.synchronous, expected);
    }
    assert!(PoolSettings::default().sqlite_full_sync);
}
