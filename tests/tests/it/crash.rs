//! Decisions survive crashes: Orchestra killed (SIGKILL, at a named point) between a
//! decision's commit and the agent's answer, or just after the answer, then restarted on the
//! same database. An approved tool runs exactly once and a denial is recorded once; an
//! answer that may already have reached the agent is never sent again.

use std::time::Duration;

use orchestra_application::chaos;
use orchestra_tests::Backend;
use orchestra_tests::crash::{CrashRig, wait_until, wait_until_logged};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(20);

async fn approval(rig: &CrashRig, id: &str) -> Value {
    rig.get(&format!("/api/approvals/{id}")).await
}

async fn a_decision_committed_before_a_crash_is_carried_out_once_after_the_restart(
    backend: Backend,
) {
    let rig = CrashRig::new(backend, &[]).await;
    for approved in [true, false] {
        let server = rig.start(Some(chaos::DECISION_COMMITTED)).await;
        let session = rig.create_session().await;
        rig.ask(&session, "deploy").await.expect("asked");
        let id = rig.pending_approval(&session).await;
        let answer = rig
            .post(
                &format!("/api/approvals/{id}/approve"),
                json!({"approved": approved, "reason": "crash test"}),
            )
            .await;
        assert!(
            answer.is_none(),
            "the process died before answering: {answer:?}"
        );
        let log = server.wait_exit(WAIT).await;
        assert!(log.contains("killed at decision.committed"), "{log}");
        assert_eq!(rig.tools_ran(&session), 0, "nothing ran before the crash");

        let server = rig.start(None).await;
        let a = wait_until_logged(&server, WAIT, "the decision to be carried out", || async {
            let a = approval(&rig, &id).await;
            (a["actedOn"] == "done").then_some(a)
        })
        .await;
        let expected = if approved { "Approved" } else { "Rejected" };
        assert_eq!(a["status"], expected, "the decision stood: {a}");
        if approved {
            let turns = wait_until_logged(&server, WAIT, "the continued turn", || async {
                let t = rig.get(&format!("/api/sessions/{session}/turns")).await;
                (t["items"][0]["status"] == "Completed").then_some(t)
            })
            .await;
            assert_eq!(
                turns["items"][0]["result"],
                r#"tool ran: {"command":"deploy"}"#
            );
            assert_eq!(rig.tools_ran(&session), 1, "the approved tool ran once");
            assert_eq!(
                rig.get(&format!("/api/sessions/{session}")).await["status"],
                "Active"
            );
        } else {
            assert_eq!(rig.tools_ran(&session), 0, "the denied tool never ran");
            let s = rig.get(&format!("/api/sessions/{session}")).await;
            assert_eq!(s["status"], "Failed", "not resumed for a denial: {s}");
        }
        let metrics = rig.metrics().await;
        assert!(
            metrics.lines().any(
                |l| l.starts_with("escalation_decisions_recovered_total") && !l.ends_with(" 0")
            ),
            "{metrics}"
        );
        assert_eq!(server.terminate().await, Some(0));
        assert_eq!(
            rig.tools_ran(&session),
            usize::from(approved),
            "and never again"
        );
    }
}

async fn an_answer_interrupted_by_a_crash_is_uncertain_and_never_sent_twice(backend: Backend) {
    let rig = CrashRig::new(backend, &[]).await;
    let server = rig.start(Some(chaos::DECISION_ANSWERED)).await;
    let session = rig.create_session().await;
    rig.ask(&session, "migrate").await.expect("asked");
    let id = rig.pending_approval(&session).await;
    let answer = rig
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"approved": true}),
        )
        .await;
    // The decision's HTTP answer may or may not have left before the crash.
    if let Some((status, body)) = &answer {
        assert_eq!(*status, 200, "{body}");
    }
    let log = server.wait_exit(WAIT).await;
    assert!(log.contains("killed at decision.answered"), "{log}");
    // The agent had the answer in its stdin: it runs the tool although Orchestra is gone.
    wait_until(WAIT, "the agent to run the approved tool", || async {
        (rig.tools_ran(&session) == 1).then_some(())
    })
    .await;

    let server = rig.start(None).await;
    let a = approval(&rig, &id).await;
    assert_eq!(a["status"], "Approved", "{a}");
    assert_eq!(a["actedOn"], "uncertain", "{a}");
    let log = server.log_text();
    assert!(
        log.contains("may or may not have reached the agent") && log.contains(&id),
        "logged with the approval id: {log}"
    );
    let metrics = rig.metrics().await;
    assert!(
        metrics
            .lines()
            .any(|l| l == "escalation_decisions_uncertain_total 1"),
        "{metrics}"
    );
    // The session goes on when a client says so, and the tool is not run a second time.
    let (status, resumed) = rig
        .post(&format!("/api/sessions/{session}/resume"), json!({}))
        .await
        .unwrap();
    assert_eq!(status, 200, "{resumed}");
    let (_, turn) = rig
        .post(
            &format!("/api/sessions/{session}/messages"),
            json!({"prompt": "carry on", "wait": true}),
        )
        .await
        .unwrap();
    assert_eq!(turn["status"], "Completed", "{turn}");
    assert_eq!(approval(&rig, &id).await["actedOn"], "uncertain");
    assert_eq!(rig.tools_ran(&session), 1, "the tool ran once");
    assert_eq!(server.terminate().await, Some(0));
}

/// Each turn's events are stored when it ends: after a kill -9 and a restart, the session's
/// event stream replays its last turn, with the same ids, and goes on from them.
async fn the_last_turn_replays_after_a_kill_9(backend: Backend) {
    let rig = CrashRig::new(backend, &[]).await;
    let server = rig.start(None).await;
    let session = rig.create_session().await;
    let (status, _) = rig
        .post(
            &format!("/api/sessions/{session}/messages"),
            json!({"prompt": "hello", "wait": true, "timeoutSeconds": 20}),
        )
        .await
        .expect("answered");
    assert_eq!(status, 200);
    let url = format!("{}/api/sessions/{session}/events", rig.base);
    let finished = |e: &orchestra_tests::sse::SseEvent| e.event == "turn_finished";
    let before = orchestra_tests::sse::read_until(&rig.client, &url, None, WAIT, finished).await;
    assert_eq!(before[0].event, "turn_started", "{before:?}");
    server.kill9().await;

    let server = rig.start(None).await;
    let after = orchestra_tests::sse::read_until(&rig.client, &url, None, WAIT, finished).await;
    let view = |events: &[orchestra_tests::sse::SseEvent]| -> Vec<(Option<u64>, String)> {
        events.iter().map(|e| (e.id, e.event.clone())).collect()
    };
    assert_eq!(
        view(&after),
        view(&before),
        "the restarted node replays the turn the killed one stored"
    );
    assert_eq!(server.terminate().await, Some(0));
}

both_backends!(
    a_decision_committed_before_a_crash_is_carried_out_once_after_the_restart,
    an_answer_interrupted_by_a_crash_is_uncertain_and_never_sent_twice,
    the_last_turn_replays_after_a_kill_9,
);
