//! The chaos figure: approval flows on the fake CLI, each with Orchestra killed (SIGKILL) at
//! a random point — before the approval's insert, after it, after the chat got it, after the
//! decision's commit, after the agent's answer — then restarted on the same database and
//! carried to its end. Printed as a table; the test fails unless every approval ends decided
//! with the chat showing it, none is decided twice, no tool runs twice (or, once approved
//! and carried out, zero times) and no agent process outlives the run.
//!
//! Bounded: `CHAOS_FLOWS` flows per backend (100), each waited on for at most 30 s.
//! `CHAOS_SEED` replays a run (the seed is printed).

use std::collections::{BTreeMap, HashMap};
use std::time::Duration;

use orchestra_application::chaos::POINTS;
use orchestra_tests::Backend;
use orchestra_tests::binary::ServerProcess;
use orchestra_tests::crash::{APPROVER, CHAT, CrashRig, wait_until};
use serde_json::{Value, json};

const WAIT: Duration = Duration::from_secs(30);

/// xorshift64*: reproducible from its printed seed, no dependency.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 ^= self.0 >> 12;
        self.0 ^= self.0 << 25;
        self.0 ^= self.0 >> 27;
        self.0.wrapping_mul(0x2545_f491_4f6c_dd1d)
    }

    fn below(&mut self, n: usize) -> usize {
        usize::try_from(self.next() % n as u64).unwrap()
    }
}

#[derive(Default, Debug)]
struct Row {
    flows: u32,
    approvals: u32,
    approved: u32,
    denied: u32,
    tools_run: u32,
    uncertain: u32,
    lost: u32,
    double_decided: u32,
    tools_twice: u32,
}

/// What the chat shows last for the approval (its latest edit, else its latest message).
fn chat_shows(rig: &CrashRig, id: &str) -> Option<String> {
    let edits: Vec<String> = rig
        .tg
        .edits()
        .iter()
        .filter_map(|e| e["text"].as_str().map(str::to_owned))
        .filter(|t| t.contains(id))
        .collect();
    edits.last().cloned().or_else(|| {
        rig.tg
            .sent()
            .into_iter()
            .rev()
            .find(|m| m.text.contains(id))
            .map(|m| m.text)
    })
}

fn message_id(rig: &CrashRig, id: &str) -> Option<i64> {
    rig.tg
        .sent()
        .into_iter()
        .find(|m| m.text.contains(id))
        .map(|m| m.message_id)
}

/// Decides over REST or with a button in the chat. `false` when the server went away.
async fn decide(rig: &CrashRig, id: &str, approved: bool, by_chat: bool) -> bool {
    if by_chat {
        let msg = wait_until(WAIT, "the chat message to press", || async {
            message_id(rig, id)
        })
        .await;
        let data = format!("{}:{id}", if approved { "a" } else { "d" });
        rig.tg.press(&data, APPROVER, "approver", CHAT, msg);
        true
    } else {
        rig.post(
            &format!("/api/approvals/{id}/approve"),
            json!({"approved": approved, "reason": "chaos"}),
        )
        .await
        .is_some()
    }
}

/// Waits until the session has a Pending approval whose request is in the chat, or the
/// server is gone.
async fn notified_or_crashed(
    rig: &CrashRig,
    server: &mut ServerProcess,
    session: &str,
) -> Option<String> {
    let deadline = std::time::Instant::now() + WAIT;
    loop {
        if server.exited() {
            return None;
        }
        if let Some(a) = rig.approvals_of(session).await.first()
            && a["notification"] == "sent"
        {
            return Some(a["id"].as_str().unwrap().to_owned());
        }
        assert!(
            std::time::Instant::now() < deadline,
            "no approval and no crash"
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

async fn all_audit_events(rig: &CrashRig) -> Vec<Value> {
    let mut events = Vec::new();
    for page in 1.. {
        let body = rig
            .get(&format!("/api/audit?page={page}&pageSize=1000"))
            .await;
        let items = body["items"].as_array().cloned().unwrap_or_default();
        let total = body["total"].as_u64().unwrap_or(0);
        events.extend(items);
        if events.len() as u64 >= total {
            break;
        }
        assert!(page < 1000, "the audit log does not page: {body}");
    }
    events
}

/// How one flow goes: where it is killed, the decision, and where it is made.
struct Plan {
    point: &'static str,
    approve: bool,
    by_chat: bool,
}

async fn one_flow(rig: &CrashRig, n: usize, plan: &Plan, row: &mut Row) -> Option<String> {
    let Plan {
        point,
        approve,
        by_chat,
    } = *plan;
    row.flows += 1;
    let started = std::time::Instant::now();
    println!("flow {n}: killed at {point}, approve {approve}, by chat {by_chat}");
    let mut server = rig.start(Some(point)).await;
    let session = rig.create_session().await;
    rig.ask(&session, &format!("step-{n}")).await;
    if let Some(id) = notified_or_crashed(rig, &mut server, &session).await {
        decide(rig, &id, approve, by_chat).await;
    }
    let log = server.wait_exit(WAIT).await;
    assert!(
        log.contains(&format!("killed at {point}")),
        "flow {n} crashed at {point}: {log}"
    );

    println!("flow {n}: restarting after {:?}", started.elapsed());
    let server = rig.start(None).await;
    let Some(first) = rig.approvals_of(&session).await.first().cloned() else {
        // Killed before the insert: nothing was stored, and nothing ran.
        assert_eq!(point, POINTS[0], "flow {n}: an approval went missing");
        assert_eq!(rig.tools_ran(&session), 0, "flow {n}");
        assert_eq!(server.terminate().await, Some(0));
        return None;
    };
    row.approvals += 1;
    let id = first["id"].as_str().unwrap().to_owned();
    if first["status"] == "Pending" {
        assert!(decide(rig, &id, approve, by_chat).await, "flow {n}");
    }
    let done = wait_until(
        WAIT,
        "the approval to end, carried out and shown",
        || async {
            let a = rig.get(&format!("/api/approvals/{id}")).await;
            let word = match a["status"].as_str()? {
                "Approved" => "Approved",
                "Rejected" => "Denied",
                _ => return None,
            };
            let acted = a["actedOn"] == "done" || a["actedOn"] == "uncertain";
            let shown = chat_shows(rig, &id).is_some_and(|t| t.contains(word));
            (acted && shown && a["notification"] == "sent").then_some(a)
        },
    )
    .await;
    println!("flow {n}: ended after {:?}", started.elapsed());
    let approved = done["status"] == "Approved";
    assert_eq!(
        approved, approve,
        "flow {n}: the decision made stands: {done}"
    );
    if done["actedOn"] == "uncertain" {
        row.uncertain += 1;
    }
    if approved {
        row.approved += 1;
        if done["actedOn"] == "done" {
            // Carried out: the continued turn runs the tool.
            wait_until(WAIT, "the approved tool to run", || async {
                (rig.tools_ran(&session) >= 1).then_some(())
            })
            .await;
        }
    } else {
        row.denied += 1;
    }
    let (status, again) = rig
        .post(
            &format!("/api/approvals/{id}/approve"),
            json!({"approved": !approve}),
        )
        .await
        .unwrap();
    assert_eq!(status, 409, "flow {n}: decided twice: {again}");
    assert_eq!(server.terminate().await, Some(0));
    let ran = rig.tools_ran(&session);
    row.tools_run += u32::try_from(ran).unwrap();
    if ran > 1 {
        row.tools_twice += 1;
    }
    if !approved && ran > 0 {
        row.tools_twice += 1;
    }
    Some(id)
}

async fn approval_flows_survive_kill_9_at_any_point(backend: Backend) {
    let flows: usize = std::env::var("CHAOS_FLOWS")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or(100);
    let seed: u64 = std::env::var("CHAOS_SEED")
        .ok()
        .and_then(|v| v.parse().ok())
        .unwrap_or_else(|| {
            u64::try_from(orchestra_tests::fake_telegram::unix_nanos() % u128::from(u64::MAX))
                .unwrap()
                | 1
        });
    println!("chaos: {flows} flows on {backend:?}, CHAOS_SEED={seed}");
    let rig = CrashRig::new(backend, &[]).await;
    let mut rng = Rng(seed);
    let mut rows: BTreeMap<&str, Row> = BTreeMap::new();
    let mut ids = Vec::new();
    for n in 0..flows {
        let plan = Plan {
            point: POINTS[rng.below(POINTS.len())],
            approve: rng.below(2) == 0,
            by_chat: rng.below(2) == 0,
        };
        let row = rows.entry(plan.point).or_default();
        ids.extend(one_flow(&rig, n, &plan, row).await);
    }
    // Decided once each: one decision in the audit log per approval.
    let server = rig.start(None).await;
    let mut decisions: HashMap<String, u32> = HashMap::new();
    for e in all_audit_events(&rig).await {
        if e["action"] == "approval.decide" {
            *decisions
                .entry(e["target"].as_str().unwrap().to_owned())
                .or_default() += 1;
        }
    }
    assert_eq!(server.terminate().await, Some(0));
    let orphans = rig.agent_processes();
    let mut total = Row::default();
    println!(
        "| killed at | flows | approvals | approved | denied | tools run | uncertain | lost | decided twice | tool twice |"
    );
    println!("|---|---|---|---|---|---|---|---|---|---|");
    for (point, r) in &rows {
        println!(
            "| {point} | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
            r.flows,
            r.approvals,
            r.approved,
            r.denied,
            r.tools_run,
            r.uncertain,
            r.lost,
            r.double_decided,
            r.tools_twice
        );
        total.flows += r.flows;
        total.approvals += r.approvals;
        total.approved += r.approved;
        total.denied += r.denied;
        total.tools_run += r.tools_run;
        total.uncertain += r.uncertain;
        total.tools_twice += r.tools_twice;
    }
    total.lost =
        u32::try_from(ids.iter().filter(|id| !decisions.contains_key(*id)).count()).unwrap();
    total.double_decided = u32::try_from(decisions.values().filter(|n| **n > 1).count()).unwrap();
    println!(
        "| all | {} | {} | {} | {} | {} | {} | {} | {} | {} |",
        total.flows,
        total.approvals,
        total.approved,
        total.denied,
        total.tools_run,
        total.uncertain,
        total.lost,
        total.double_decided,
        total.tools_twice
    );
    println!("orphan agent processes after the run: {orphans}");
    assert_eq!(total.flows as usize, flows);
    assert_eq!(total.lost, 0, "every approval ends decided");
    assert_eq!(total.double_decided, 0, "none is decided twice");
    assert_eq!(
        total.tools_twice, 0,
        "no tool runs twice, and no denied tool runs"
    );
    assert_eq!(orphans, 0, "no agent process is left");
}

both_backends!(approval_flows_survive_kill_9_at_any_point);
