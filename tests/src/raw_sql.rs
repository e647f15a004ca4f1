//! SQL run on a test's database outside Orchestra (to age rows, or read what it stored).
//! `{OLD}` in a statement stands for "100 days ago" and `{PAST}` for "one minute ago", in
//! the backend's own syntax.

use diesel::Connection;

/// Runs `$body` with `$c` bound to the backend's own connection.
#[macro_export]
macro_rules! on_backend {
    ($conn:expr, $c:ident => $body:expr) => {
        match $conn {
            orchestra_db::DbConn::Postgresql($c) => $body,
            orchestra_db::DbConn::Sqlite($c) => $body,
        }
    };
}

/// A connection to PostgreSQL at `pg_url`, else to the SQLite file `sqlite`.
pub fn connect(pg_url: Option<String>, sqlite: &std::path::Path) -> orchestra_db::DbConn {
    match pg_url {
        Some(url) => {
            orchestra_db::DbConn::Postgresql(diesel::PgConnection::establish(&url).unwrap())
        }
        None => orchestra_db::DbConn::Sqlite(
            diesel::SqliteConnection::establish(&sqlite.display().to_string()).unwrap(),
        ),
    }
}

/// `statement` with `{OLD}` and `{PAST}` written for `conn`'s backend.
fn expand(conn: &orchestra_db::DbConn, statement: &str) -> String {
    let (old, past) = match conn {
        orchestra_db::DbConn::Postgresql(_) => (
            "((now() AT TIME ZONE 'utc') - interval '100 days')",
            "((now() AT TIME ZONE 'utc') - interval '1 minute')",
        ),
        orchestra_db::DbConn::Sqlite(_) => (
            "strftime('%Y-%m-%d %H:%M:%f', 'now', '-100 days')",
            "strftime('%Y-%m-%d %H:%M:%f', 'now', '-1 minute')",
        ),
    };
    statement.replace("{OLD}", old).replace("{PAST}", past)
}

/// Runs each statement; panics, naming it, when one fails.
pub fn execute(conn: &mut orchestra_db::DbConn, statements: &[&str]) {
    use diesel::RunQueryDsl;
    for s in statements {
        let s = expand(conn, s);
        on_backend!(&mut *conn, c => diesel::sql_query(&s).execute(c))
            .unwrap_or_else(|e| panic!("{s}: {e}"));
    }
}

/// The first column (named `j`, text) of each row `query` returns.
pub fn texts(conn: &mut orchestra_db::DbConn, query: &str) -> Vec<String> {
    use diesel::RunQueryDsl;
    #[derive(diesel::QueryableByName)]
    struct Line {
        #[diesel(sql_type = diesel::sql_types::Text)]
        j: String,
    }
    let query = expand(conn, query);
    let rows: Vec<Line> = on_backend!(&mut *conn, c => diesel::sql_query(&query).load(c))
        .unwrap_or_else(|e| panic!("{query}: {e}"));
    rows.into_iter().map(|l| l.j).collect()
}
