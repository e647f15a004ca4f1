//! Retention with the real binary on both backends: rows made by real flows, aged in the
//! database, then `orchestra retention run --dry-run` (nothing goes), `orchestra retention
//! run` (the old, settled rows are archived to a gzipped JSON-lines file and deleted; open
//! sessions, pending approvals and decisions not yet carried out stay), `orchestra audit
//! verify` (the chain still checks, its start moved by the purge) and the background
//! service on a short interval.

use std::io::Read;
use std::time::Duration;

use orchestra_tests::Backend;
use orchestra_tests::crash::{CrashRig, wait_until};
use serde_json::Value;

const WAIT: Duration = Duration::from_secs(20);

async fn decided_approval(rig: &CrashRig, session: &str, command: &str) -> String {
    rig.ask(session, command).await.expect("asked");
    let id = rig.pending_approval(session).await;
    rig.approve(&id, None).await;
    wait_until(WAIT, "the decision carried out", || async {
        (rig.get(&format!("/api/approvals/{id}")).await["actedOn"] == "done").then_some(())
    })
    .await;
    id
}

fn count(rig: &CrashRig, table: &str, condition: &str) -> i64 {
    rig.sql_text(&format!(
        "SELECT CAST(COUNT(*) AS TEXT) AS j FROM {table} WHERE {condition}"
    ))[0]
        .parse()
        .unwrap()
}

fn archive_lines(path: &std::path::Path) -> Vec<Value> {
    let mut text = String::new();
    flate2::read::GzDecoder::new(std::fs::File::open(path).unwrap())
        .read_to_string(&mut text)
        .unwrap();
    text.lines()
        .map(|l| serde_json::from_str(l).unwrap())
        .collect()
}

async fn old_settled_rows_are_archived_and_deleted_and_the_rest_stays(backend: Backend) {
    let rig = CrashRig::new(backend, &[("ORCHESTRA__RETENTION__BATCH_SIZE", "2")]).await;
    let server = rig.start(None).await;
    // Session A: a decided approval, then closed. Session B: open, with a decided
    // approval and a pending one.
    let a = rig.create_session().await;
    let a_approval = decided_approval(&rig, &a, "deploy a").await;
    let (status, _) = rig.delete(&format!("/api/sessions/{a}")).await.unwrap();
    assert_eq!(status, 200);
    let b = rig.create_session().await;
    let b_decided = decided_approval(&rig, &b, "deploy b").await;
    // (Once the continued turn is over: a busy session refuses a prompt.)
    wait_until(WAIT, "the prompt to be taken", || async {
        let (status, _) = rig.ask(&b, "still waiting").await.expect("answered");
        (status < 300).then_some(())
    })
    .await;
    let b_pending = wait_until(WAIT, "the second approval", || async {
        rig.approvals_of(&b)
            .await
            .into_iter()
            .find(|x| x["status"] == "Pending")
            .map(|x| x["id"].as_str().unwrap().to_owned())
    })
    .await;
    // Killed, so that the approval stays Pending (a graceful stop withdraws it).
    server.kill9().await;

    // Everything is made 100 days old; B's decided approval is marked as not carried out
    // yet (a crash in between would leave it so): it must stay.
    let audit_total = count(&rig, "audit_events", "1 = 1");
    assert!(audit_total >= 3, "{audit_total}");
    rig.sql(&[
        "UPDATE sessions SET closed_at = {OLD}, updated_at = {OLD}, created_at = {OLD} WHERE status = 'Closed'",
        "UPDATE approvals SET created_at = {OLD}, decided_at = CASE WHEN decided_at IS NULL THEN NULL ELSE {OLD} END",
        &format!("UPDATE approvals SET acted_on = 'due' WHERE id = '{b_decided}'"),
        "UPDATE audit_events SET at = {OLD} WHERE seq <= 3",
    ]);
    let turns_of_a = count(&rig, "turns", &format!("session_id = '{a}'"));
    assert!(turns_of_a >= 1);

    let (code, out, err) = rig.orchestra(&["retention", "run", "--dry-run"]).await;
    assert_eq!(code, 0, "{out}{err}");
    assert!(out.contains("dry run"), "{out}");
    for line in [
        "sessions             1",
        "approvals            1",
        "audit_events         3",
    ] {
        assert!(out.contains(line), "{line}: {out}");
    }
    assert_eq!(
        count(&rig, "sessions", "1 = 1"),
        2,
        "a dry run removes nothing"
    );

    let (code, out, err) = rig.orchestra(&["retention", "run"]).await;
    assert_eq!(code, 0, "{out}{err}");
    let archive = out
        .lines()
        .find_map(|l| l.strip_prefix("archive: "))
        .unwrap_or_else(|| panic!("{out}"));
    let archive = rig.dir().join(archive);
    let lines = archive_lines(&archive);
    let archived = |table: &str, key: &str, value: &str| {
        lines
            .iter()
            .any(|l| l["table"] == table && l["row"][key].as_str() == Some(value))
    };
    assert!(archived("sessions", "id", &a), "{lines:?}");
    assert!(archived("approvals", "id", &a_approval));
    assert_eq!(
        lines.iter().filter(|l| l["table"] == "turns").count(),
        usize::try_from(turns_of_a).unwrap()
    );
    assert_eq!(
        lines
            .iter()
            .filter(|l| l["table"] == "audit_events")
            .count(),
        3
    );
    assert!(!archived("sessions", "id", &b) && !archived("approvals", "id", &b_pending));
    use std::os::unix::fs::PermissionsExt;
    assert_eq!(
        std::fs::metadata(&archive).unwrap().permissions().mode() & 0o777,
        0o600
    );

    // Gone: A, its turns, its approval, the three old audit events. Kept: B and its
    // approvals (the pending one, the one not carried out).
    assert_eq!(count(&rig, "sessions", &format!("id = '{a}'")), 0);
    assert_eq!(count(&rig, "turns", &format!("session_id = '{a}'")), 0);
    assert_eq!(
        count(&rig, "transcript_parts", &format!("session_id = '{a}'")),
        0
    );
    assert_eq!(count(&rig, "approvals", &format!("id = '{a_approval}'")), 0);
    assert_eq!(count(&rig, "sessions", &format!("id = '{b}'")), 1);
    assert_eq!(
        count(
            &rig,
            "approvals",
            &format!("id IN ('{b_decided}', '{b_pending}')")
        ),
        2
    );
    assert_eq!(count(&rig, "audit_events", "seq <= 3"), 0);
    assert_eq!(count(&rig, "audit_events", "action = 'retention.purge'"), 1);
    // Batches of 2: the three audit events took two transactions, at least.
    let batches: u64 = out
        .lines()
        .find_map(|l| {
            l.split(" delete transactions")
                .next()
                .filter(|_| l.contains("delete transactions"))
        })
        .and_then(|n| n.trim().parse().ok())
        .unwrap_or_else(|| panic!("{out}"));
    assert!(batches >= 5, "{out}");

    let (code, out, err) = rig.orchestra(&["audit", "verify"]).await;
    assert_eq!(code, 0, "the chain checks after the purge: {out}{err}");
    assert!(
        out.contains("the 3 before them removed by retention"),
        "{out}"
    );
    // Deleting the next event by hand is still caught.
    rig.sql(&["DELETE FROM audit_events WHERE seq = 4"]);
    let (code, out, _) = rig.orchestra(&["audit", "verify"]).await;
    assert_eq!(code, 1, "{out}");

    // A second run has nothing to do and writes no archive.
    let (code, out, _) = rig.orchestra(&["retention", "run"]).await;
    assert_eq!(code, 0);
    assert!(out.contains("archive: none (nothing to remove)"), "{out}");

    // The server starts on what is left (and reaps the killed one's agents).
    let server = rig.start(None).await;
    assert_eq!(
        rig.get(&format!("/api/sessions/{b}")).await["id"],
        b.as_str()
    );
    let log_path = server.log.clone();
    assert_eq!(server.terminate().await, Some(0));
    let left = rig.agent_processes();
    assert_eq!(
        left,
        0,
        "{}",
        std::fs::read_to_string(&log_path).unwrap_or_default()
    );
}

async fn the_background_service_runs_on_its_interval(backend: Backend) {
    let rig = CrashRig::new(
        backend,
        &[
            ("ORCHESTRA__RETENTION__INTERVAL_SECS", "1"),
            ("ORCHESTRA__RETENTION__ARCHIVE", "false"),
        ],
    )
    .await;
    let server = rig.start(None).await;
    let a = rig.create_session().await;
    let (status, _) = rig.delete(&format!("/api/sessions/{a}")).await.unwrap();
    assert_eq!(status, 200);
    // Aged while the server runs: the next run (within a second) removes it.
    rig.sql(&["UPDATE sessions SET closed_at = {OLD}, updated_at = {OLD} WHERE status = 'Closed'"]);
    wait_until(WAIT, "the background run to remove the session", || async {
        (count(&rig, "sessions", &format!("id = '{a}'")) == 0).then_some(())
    })
    .await;
    let (status, _) = rig.delete(&format!("/api/sessions/{a}")).await.unwrap();
    assert_eq!(status, 404, "the session is gone");
    let metrics = rig.metrics().await;
    assert!(
        orchestra_tests::counter(&metrics, "retention_rows_deleted_total{table=\"sessions\"}") >= 1,
        "{metrics}"
    );
    let log = server.log_text();
    assert!(log.contains("RetentionService started"), "{log}");
    assert!(
        !rig.dir().join("archive").exists(),
        "retention.archive = false writes none"
    );
    assert_eq!(server.terminate().await, Some(0));
}

both_backends!(
    old_settled_rows_are_archived_and_deleted_and_the_rest_stays,
    the_background_service_runs_on_its_interval,
);
