//! `orchestra backup` and `orchestra restore` on both backends, with the real binary: data
//! made by a real flow (a session, a turn, an approval decided over REST, keys, audit rows)
//! is backed up, the database wrecked, the backup restored, and every row of every table is
//! the same as before; the server starts on it and serves the same answers.

use std::collections::BTreeMap;
use std::time::Duration;

use diesel::prelude::*;
use orchestra_tests::Backend;
use orchestra_tests::crash::{CrashRig, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

/// Every row of every table, as text, sorted: what "the same data" means here, read with
/// the database's own functions rather than Orchestra's code.
fn all_rows(rig: &CrashRig) -> BTreeMap<String, Vec<String>> {
    let pg = rig.database_url().is_some();
    let tables = if pg {
        rig.sql_text(
            "SELECT table_name::text AS j FROM information_schema.tables WHERE table_schema = 'public'",
        )
    } else {
        rig.sql_text(
            "SELECT name AS j FROM sqlite_master WHERE type = 'table' AND name NOT LIKE 'sqlite_%'",
        )
    };
    let mut out = BTreeMap::new();
    for t in tables {
        let sql = if pg {
            format!("SELECT row_to_json(x)::text AS j FROM \"{t}\" x")
        } else {
            let cols = rig.sql_text(&format!("SELECT name AS j FROM pragma_table_info('{t}')"));
            let expr: Vec<String> = cols.iter().map(|c| format!("quote(\"{c}\")")).collect();
            format!("SELECT {} AS j FROM \"{t}\"", expr.join(" || '|' || "))
        };
        let mut rows = rig.sql_text(&sql);
        rows.sort();
        out.insert(t, rows);
    }
    out
}

fn wreck(rig: &CrashRig) {
    match rig.database_url() {
        Some(url) => {
            let mut c = PgConnection::establish(&url).unwrap();
            diesel::sql_query("DELETE FROM approvals")
                .execute(&mut c)
                .unwrap();
            diesel::sql_query("DROP TABLE turns CASCADE")
                .execute(&mut c)
                .unwrap();
        }
        None => {
            // Half the file gone: SQLite calls it malformed.
            let path = rig.dir().join("orchestra.db");
            let len = std::fs::metadata(&path).unwrap().len();
            let f = std::fs::OpenOptions::new().write(true).open(&path).unwrap();
            f.set_len(len / 2).unwrap();
        }
    }
}

fn pg_bin_dir() -> String {
    orchestra_tests::pg::pg_bin_dir().display().to_string()
}

async fn data_is_backed_up_wrecked_and_restored_equal(backend: Backend) {
    let rig = CrashRig::new(backend, &[]).await;
    let server = rig.start(None).await;
    let session = rig.create_session().await;
    rig.ask(&session, "deploy").await.expect("asked");
    let id = rig.pending_approval(&session).await;
    rig.approve(&id, Some("backup test")).await;
    wait_until(WAIT, "the tool to run", || async {
        (rig.tools_ran(&session) == 1).then_some(())
    })
    .await;
    let approval_before: Value = wait_until(WAIT, "the decision carried out", || async {
        let a = rig.get(&format!("/api/approvals/{id}")).await;
        (a["actedOn"] == "done").then_some(a)
    })
    .await;
    let ext = if backend == Backend::Postgres {
        "dump"
    } else {
        "db"
    };
    let bin = pg_bin_dir();

    // A backup is taken while the server runs; a restore is refused while it runs.
    let online = format!("online.{ext}");
    let (code, out, err) = rig
        .orchestra(&["backup", "--output", &online, "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(
        out.contains("rows: ") && out.contains("approvals 1"),
        "{out}"
    );
    if backend == Backend::Sqlite {
        // Not even with --force: a file a server has open is never replaced under it. (On
        // PostgreSQL --force overrides the leases, which may be a crashed node's.)
        let (code, _, err) = rig.orchestra(&["restore", &online, "--force"]).await;
        assert_eq!(code, 1, "{err}");
        assert!(err.contains("have it open"), "{err}");
    }
    let (code, _, err) = rig
        .orchestra(&["restore", &online, "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 1, "{err}");
    assert!(
        err.contains("refusing to overwrite the live database"),
        "{err}"
    );
    let session_before = rig.get(&format!("/api/sessions/{session}")).await;
    assert_eq!(server.terminate().await, Some(0));

    let file = format!("orchestra-backup.{ext}");
    let (code, out, err) = rig
        .orchestra(&["backup", "--output", &file, "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("schema version: 2"), "{out}");
    let rows_before = all_rows(&rig);
    assert_eq!(rows_before["approvals"].len(), 1);
    assert!(!rows_before["turns"].is_empty());
    let (code, _, err) = rig
        .orchestra(&["backup", "--output", &file, "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 1, "a backup never overwrites a file: {err}");

    wreck(&rig);
    let (code, _, err) = rig
        .orchestra(&["restore", &file, "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 1, "the wrecked database still needs --force: {err}");
    let (code, out, err) = rig
        .orchestra(&["restore", &file, "--force", "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("restored"), "{out}");
    assert_eq!(all_rows(&rig), rows_before, "every row is back, unchanged");

    // The restored database passes the audit chain check and serves the same answers.
    let (code, out, err) = rig.orchestra(&["audit", "verify"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let server = rig.start(None).await;
    let approval_after = rig.get(&format!("/api/approvals/{id}")).await;
    // (Its chat message may still be in flight: the outbox moves `notification` on.)
    for key in [
        "id",
        "status",
        "decidedBy",
        "decidedAt",
        "reason",
        "actedOn",
        "toolInput",
    ] {
        assert_eq!(approval_after[key], approval_before[key], "{key}");
    }
    let session_after = rig.get(&format!("/api/sessions/{session}")).await;
    for key in [
        "id",
        "status",
        "totalCostUsd",
        "messageCount",
        "workingDirectory",
    ] {
        assert_eq!(session_after[key], session_before[key], "{key}");
    }
    assert_eq!(server.terminate().await, Some(0));
}

async fn a_backup_that_is_not_one_or_is_from_a_newer_build_is_refused(backend: Backend) {
    let rig = CrashRig::new(backend, &[]).await;
    let bin = pg_bin_dir();
    let (code, _, err) = rig.orchestra(&["migrate", "apply"]).await;
    assert_eq!(code, 0, "{err}");
    std::fs::write(rig.dir().join("junk.bak"), b"not a backup at all").unwrap();
    let (code, _, err) = rig
        .orchestra(&["restore", "junk.bak", "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 1);
    let expected = if backend == Backend::Postgres {
        "is not a pg_dump archive"
    } else {
        "is not a SQLite database"
    };
    assert!(err.contains(expected), "{err}");

    // A backup that has a migration this build does not know (a newer build made it).
    let (code, out, err) = rig
        .orchestra(&["backup", "--output", "b.bak", "--pg-bin-dir", &bin])
        .await;
    assert_eq!(code, 0, "{out}{err}");
    let newer = "INSERT INTO __diesel_schema_migrations (version) VALUES ('29991231000001')";
    let newer_file = match rig.database_url() {
        Some(_) => {
            rig.sql(&[newer]);
            let (code, out, err) = rig
                .orchestra(&["backup", "--output", "newer.bak", "--pg-bin-dir", &bin])
                .await;
            assert_eq!(
                code, 1,
                "a newer database is not backed up as if known: {out}"
            );
            assert!(err.contains("newer Orchestra"), "{err}");
            rig.sql(&["DELETE FROM __diesel_schema_migrations WHERE version = '29991231000001'"]);
            None
        }
        None => {
            let path = rig.dir().join("b.bak");
            let mut c = SqliteConnection::establish(&path.display().to_string()).unwrap();
            diesel::sql_query(newer).execute(&mut c).unwrap();
            Some("b.bak")
        }
    };
    if let Some(file) = newer_file {
        let (code, _, err) = rig.orchestra(&["restore", file, "--force"]).await;
        assert_eq!(code, 1);
        assert!(
            err.contains("newer Orchestra") && err.contains("29991231000001"),
            "{err}"
        );
    }
}

both_backends!(
    data_is_backed_up_wrecked_and_restored_equal,
    a_backup_that_is_not_one_or_is_from_a_newer_build_is_refused,
);
