//! The repository contract, written once and run on SQLite (a temp file), on PostgreSQL,
//! and on the in-memory fakes (which must honour the same contract).

use std::sync::Arc;

use chrono::{DateTime, Duration, TimeZone, Utc};
use orchestra_application::audit::{AuditRecord, AuditTrail};
use orchestra_application::ports::{
    ApprovalFilter, ApprovalRepository, AuditRepository, DecideOutcome, LeaseRepository,
    PageRequest, SessionFilter, SessionRepository, SystemClock, TranscriptRepository, VoteOutcome,
};
use orchestra_application::testing::{
    InMemoryApprovalRepository, InMemoryLeaseRepository, InMemorySessionRepository,
    InMemoryTranscriptRepository,
};
use orchestra_db::{
    Database, DatabaseTarget, DecisionListener, DieselApprovalRepository, DieselAuditRepository,
    DieselLeaseRepository, DieselSessionRepository, DieselTranscriptRepository, Migrations,
    PoolSettings,
};
use orchestra_domain::{
    ActedOn, AgentSession, ApprovalId, ApprovalKind, ApprovalRequest, ApprovalScope,
    ApprovalStatus, DecideApprovalError, Decision, DecisionOutcome, NewApproval, NewSession,
    PermissionMode, SessionId, SessionStatus, TurnTotals,
};
use orchestra_tests::Backend;
use orchestra_tests::app::{TestStore, new_store};
use serde_json::json;

struct Repos {
    approvals: Arc<dyn ApprovalRepository>,
    audit: Option<Arc<dyn AuditRepository>>,
    sessions: Arc<dyn SessionRepository>,
    transcripts: Arc<dyn TranscriptRepository>,
    leases: Arc<dyn LeaseRepository>,
    db: Option<Database>,
    _store: Option<TestStore>,
}

async fn repos(backend: Option<Backend>) -> Repos {
    let Some(backend) = backend else {
        return Repos {
            approvals: Arc::new(InMemoryApprovalRepository::default()),
            audit: None,
            sessions: Arc::new(InMemorySessionRepository::default()),
            transcripts: Arc::new(InMemoryTranscriptRepository::default()),
            leases: Arc::new(InMemoryLeaseRepository::default()),
            db: None,
            _store: None,
        };
    };
    let (cs, store) = tokio::task::spawn_blocking(move || new_store(backend))
        .await
        .unwrap();
    let target = DatabaseTarget::parse(&cs).unwrap();
    let db = tokio::task::spawn_blocking(move || {
        Database::open(
            target,
            PoolSettings {
                max_size: 8,
                ..PoolSettings::default()
            },
        )
    })
    .await
    .unwrap()
    .unwrap();
    Migrations::apply_pending_async(&db).await.unwrap();
    Repos {
        approvals: Arc::new(DieselApprovalRepository::new(db.clone())),
        audit: Some(Arc::new(DieselAuditRepository::new(db.clone()))),
        sessions: Arc::new(DieselSessionRepository::new(db.clone())),
        transcripts: Arc::new(DieselTranscriptRepository::new(db.clone())),
        leases: Arc::new(DieselLeaseRepository::new(db.clone())),
        db: Some(db),
        _store: Some(store),
    }
}

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_750_000_000 + secs, 123_456_000)
        .unwrap()
}

fn approval(session: &str, kind: ApprovalKind, created: i64, expires: i64) -> ApprovalRequest {
    ApprovalRequest::open(
        ApprovalId::new(),
        NewApproval {
            session_id: session.into(),
            agent_id: "claude-code".into(),
            tool_name: "Bash".into(),
            tool_input: json!({"command": "echo 'héllo' > out.txt", "nested": {"n": [1, 2.5, null]}}),
            tool_use_id: Some("toolu_01".into()),
            kind,
            description: Some("Write hello".into()),
            session_rule: None,
            risk: Default::default(),
            working_directory: None,
            approvals_needed: 1,
        },
        t(created),
        t(expires),
    )
}

fn decision(outcome: DecisionOutcome, by: &str, at: i64) -> Decision {
    Decision {
        outcome,
        decided_by: by.into(),
        decided_at: t(at),
        reason: Some("because".into()),
        updated_input: Some(json!({"command": "echo changed"})),
        scope: ApprovalScope::Session,
        grant: Some(orchestra_domain::GrantTerms {
            rule: "Bash(npm test:*)".into(),
            expires_at: Some(t(at + 1800)),
            revoked: None,
        }),
        votes: Vec::new(),
    }
}

async fn approvals_round_trip_exactly(r: Repos) {
    let a = approval("s1", ApprovalKind::Live, 0, 600);
    r.approvals.insert(&a).await.unwrap();
    assert_eq!(r.approvals.find(a.id()).await.unwrap().unwrap(), a);
    assert!(r.approvals.find(ApprovalId::new()).await.unwrap().is_none());
    let dup = r.approvals.insert(&a).await.unwrap_err();
    assert!(dup.is_conflict(), "{dup:?}");
}

async fn a_decision_is_compare_and_set(r: Repos) {
    let a = approval("s1", ApprovalKind::Live, 0, 600);
    r.approvals.insert(&a).await.unwrap();
    let first = r
        .approvals
        .decide(
            a.id(),
            &decision(DecisionOutcome::Approved, "api", 10),
            None,
        )
        .await
        .unwrap();
    let DecideOutcome::Decided(decided) = first else {
        panic!("first decision lost: {first:?}")
    };
    assert_eq!(decided.status(), ApprovalStatus::Approved);
    let d = decided.decision().unwrap();
    assert_eq!(
        (d.decided_by.as_str(), d.decided_at, d.scope),
        ("api", t(10), ApprovalScope::Session)
    );
    assert_eq!(d.updated_input, Some(json!({"command": "echo changed"})));
    let grant = d
        .grant
        .as_ref()
        .expect("the grant is stored with the decision");
    assert_eq!(
        (grant.rule.as_str(), grant.expires_at),
        ("Bash(npm test:*)", Some(t(1810)))
    );

    let second = r
        .approvals
        .decide(
            a.id(),
            &decision(DecisionOutcome::Rejected, "telegram:9", 11),
            None,
        )
        .await
        .unwrap();
    let DecideOutcome::NotPending(now) = second else {
        panic!("second decision won: {second:?}")
    };
    assert_eq!(now.status(), ApprovalStatus::Approved);
    assert_eq!(now.decision().unwrap().decided_by, "api");
    assert_eq!(
        r.approvals
            .decide(
                ApprovalId::new(),
                &decision(DecisionOutcome::Approved, "api", 1),
                None
            )
            .await
            .unwrap(),
        DecideOutcome::NotFound
    );
}

async fn racing_decisions_have_exactly_one_winner(r: Repos) {
    let a = approval("s1", ApprovalKind::Live, 0, 600);
    r.approvals.insert(&a).await.unwrap();
    let id = a.id();
    let mut tasks = Vec::new();
    for i in 0..16 {
        let repo = Arc::clone(&r.approvals);
        let outcome = if i % 2 == 0 {
            DecisionOutcome::Approved
        } else {
            DecisionOutcome::Rejected
        };
        tasks.push(tokio::spawn(async move {
            let record = AuditRecord::new(&format!("u{i}"), "approval.decide", id);
            repo.decide(id, &decision(outcome, &format!("u{i}"), i), Some(&record))
                .await
        }));
    }
    let mut winners = Vec::new();
    for task in tasks {
        if let DecideOutcome::Decided(x) = task.await.unwrap().unwrap() {
            winners.push(x);
        }
    }
    assert_eq!(winners.len(), 1, "exactly one decision must win");
    let stored = r.approvals.find(a.id()).await.unwrap().unwrap();
    assert_eq!(
        stored.decision().unwrap().decided_by,
        winners[0].decision().unwrap().decided_by
    );
    // Only the winner's audit event was written, in its transaction.
    if let Some(audit) = &r.audit {
        let events = audit.after(0, 100).await.unwrap();
        assert_eq!(events.len(), 1, "{events:?}");
        assert_eq!(
            events[0].record.actor,
            stored.decision().unwrap().decided_by
        );
    }
}

async fn decisions_and_other_audit_events_chain_under_concurrency(r: Repos) {
    let audit = r.audit.clone().expect("a database backend");
    let mut tasks = Vec::new();
    for i in 0..8 {
        let a = approval("s1", ApprovalKind::Live, 0, 600);
        r.approvals.insert(&a).await.unwrap();
        let repo = Arc::clone(&r.approvals);
        tasks.push(tokio::spawn(async move {
            let record = AuditRecord::new("key:ci", "approval.decide", a.id());
            let outcome = repo
                .decide(
                    a.id(),
                    &decision(DecisionOutcome::Approved, "key:ci", i),
                    Some(&record),
                )
                .await
                .unwrap();
            assert!(matches!(outcome, DecideOutcome::Decided(_)));
        }));
        let log = Arc::clone(&audit);
        tasks.push(tokio::spawn(async move {
            log.append(&AuditRecord::new("cli", "key.create", i), t(i))
                .await
                .unwrap();
        }));
    }
    for task in tasks {
        task.await.unwrap();
    }
    let events = audit.after(0, 100).await.unwrap();
    assert_eq!(
        events.iter().map(|e| e.seq).collect::<Vec<_>>(),
        (1..=16).collect::<Vec<_>>()
    );
    let trail = AuditTrail::new(audit, Arc::new(SystemClock));
    let report = trail.verify().await.unwrap();
    assert!(report.problems.is_empty(), "{:?}", report.problems);
}

async fn listing_filters_pages_and_orders_newest_first(r: Repos) {
    let mut ids = Vec::new();
    for i in 0..7 {
        let kind = if i % 3 == 0 {
            ApprovalKind::Test
        } else {
            ApprovalKind::Live
        };
        let a = approval(if i < 4 { "s1" } else { "s2" }, kind, i, 600);
        r.approvals.insert(&a).await.unwrap();
        ids.push(a.id());
    }
    r.approvals
        .decide(
            ids[1],
            &decision(DecisionOutcome::Rejected, "api", 20),
            None,
        )
        .await
        .unwrap();

    let all = r
        .approvals
        .list(
            &ApprovalFilter::default(),
            PageRequest {
                offset: 0,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(all.total, 7);
    assert_eq!(
        all.items
            .iter()
            .map(ApprovalRequest::id)
            .collect::<Vec<_>>(),
        vec![ids[6], ids[5], ids[4]]
    );
    let page3 = r
        .approvals
        .list(
            &ApprovalFilter::default(),
            PageRequest {
                offset: 6,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(page3.items.len(), 1);
    assert_eq!(page3.items[0].id(), ids[0]);
    let oldest = r
        .approvals
        .list(
            &ApprovalFilter {
                oldest_first: true,
                ..Default::default()
            },
            PageRequest {
                offset: 0,
                limit: 3,
            },
        )
        .await
        .unwrap();
    assert_eq!(
        (
            oldest.total,
            oldest
                .items
                .iter()
                .map(ApprovalRequest::id)
                .collect::<Vec<_>>()
        ),
        (7, vec![ids[0], ids[1], ids[2]]),
        "oldest first"
    );

    let pending = ApprovalFilter {
        status: Some(ApprovalStatus::Pending),
        ..Default::default()
    };
    assert_eq!(
        r.approvals
            .list(&pending, PageRequest::default())
            .await
            .unwrap()
            .total,
        6
    );
    assert_eq!(
        r.approvals
            .count_by_status(ApprovalStatus::Pending)
            .await
            .unwrap(),
        6
    );
    assert_eq!(
        r.approvals
            .count_by_status(ApprovalStatus::Rejected)
            .await
            .unwrap(),
        1
    );
    let tests_in_s1 = ApprovalFilter {
        kind: Some(ApprovalKind::Test),
        session_id: Some("s1".into()),
        ..Default::default()
    };
    let got = r
        .approvals
        .list(&tests_in_s1, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        got.items
            .iter()
            .map(ApprovalRequest::id)
            .collect::<Vec<_>>(),
        vec![ids[3], ids[0]]
    );
}

async fn expiry_takes_only_what_is_due_and_only_once(r: Repos) {
    let due: Vec<_> = (0..5)
        .map(|i| approval("s", ApprovalKind::Live, 0, 100 + i))
        .collect();
    let later = approval("s", ApprovalKind::Live, 0, 1000);
    let decided = approval("s", ApprovalKind::Live, 0, 50);
    for a in due.iter().chain([&later, &decided]) {
        r.approvals.insert(a).await.unwrap();
    }
    r.approvals
        .decide(
            decided.id(),
            &decision(DecisionOutcome::Approved, "api", 40),
            None,
        )
        .await
        .unwrap();

    let first = r.approvals.expire_due(t(500), t(500), 3).await.unwrap();
    assert_eq!(first.len(), 3);
    assert!(first.iter().all(|a| a.status() == ApprovalStatus::Expired));
    assert!(
        first
            .iter()
            .all(|a| a.decision().unwrap().decided_by == "system:timeout")
    );
    let second = r.approvals.expire_due(t(500), t(500), 3).await.unwrap();
    assert_eq!(second.len(), 2);
    assert!(
        r.approvals
            .expire_due(t(500), t(500), 3)
            .await
            .unwrap()
            .is_empty()
    );
    assert_eq!(
        r.approvals
            .find(later.id())
            .await
            .unwrap()
            .unwrap()
            .status(),
        ApprovalStatus::Pending
    );
    assert_eq!(
        r.approvals
            .find(decided.id())
            .await
            .unwrap()
            .unwrap()
            .status(),
        ApprovalStatus::Approved
    );
}

async fn concurrent_sweepers_never_expire_a_row_twice(r: Repos) {
    for i in 0..60 {
        r.approvals
            .insert(&approval("s", ApprovalKind::Live, 0, i))
            .await
            .unwrap();
    }
    let mut tasks = Vec::new();
    for _ in 0..4 {
        let repo = Arc::clone(&r.approvals);
        tasks.push(tokio::spawn(async move {
            let mut mine = Vec::new();
            loop {
                let batch = repo.expire_due(t(100), t(100), 7).await.unwrap();
                if batch.is_empty() {
                    break;
                }
                mine.extend(batch.into_iter().map(|a| a.id()));
            }
            mine
        }));
    }
    let mut all = Vec::new();
    for task in tasks {
        all.extend(task.await.unwrap());
    }
    let unique: std::collections::BTreeSet<_> = all.iter().collect();
    assert_eq!(all.len(), 60, "every due approval expired once");
    assert_eq!(unique.len(), 60, "no approval expired twice");
}

async fn notification_refs_are_stored(r: Repos) {
    let a = approval("s", ApprovalKind::Test, 0, 600);
    r.approvals.insert(&a).await.unwrap();
    r.approvals
        .set_notification_ref(a.id(), "telegram:-100:42")
        .await
        .unwrap();
    assert_eq!(
        r.approvals
            .find(a.id())
            .await
            .unwrap()
            .unwrap()
            .notification_ref(),
        Some("telegram:-100:42")
    );
    assert!(
        r.approvals
            .set_notification_ref(ApprovalId::new(), "x")
            .await
            .unwrap_err()
            .is_not_found()
    );
}

fn session(created: i64) -> AgentSession {
    AgentSession::start(
        NewSession {
            id: SessionId::new(),
            agent_id: "claude-code".into(),
            working_directory: "/srv/work/ünïcode dir".into(),
            model: Some("claude-opus-5-5".into()),
            permission_mode: PermissionMode::AcceptEdits,
            allowed_tools: vec!["Read".into(), "Bash(git status:*)".into()],
            disallowed_tools: vec!["WebFetch".into()],
            append_system_prompt: Some("Be brief.".into()),
            max_turns: Some(12),
            created_by: Some("key:ci".into()),
            max_budget_usd: Some(5.0),
            max_session_turns: Some(20),
        },
        t(created),
    )
}

async fn sessions_round_trip_and_lifecycle_is_optimistic(r: Repos) {
    let mut s = session(0);
    r.sessions.insert(&s).await.unwrap();
    assert_eq!(r.sessions.find(s.id()).await.unwrap().unwrap(), s);
    assert!(r.sessions.insert(&s).await.unwrap_err().is_conflict());

    let v0 = s.version();
    s.pause(t(5)).unwrap();
    r.sessions.update(&s, v0).await.unwrap();
    assert_eq!(
        r.sessions.find(s.id()).await.unwrap().unwrap().status(),
        SessionStatus::Paused
    );

    // A second writer that read version 0 loses.
    let mut stale = session(0);
    stale = AgentSession::restore({
        let mut snap = stale.snapshot().clone();
        snap.spec = s.spec().clone();
        snap
    });
    stale.close(t(6)).unwrap();
    assert!(
        r.sessions
            .update(&stale, v0)
            .await
            .unwrap_err()
            .is_conflict()
    );
    let mut gone = session(0);
    gone.pause(t(1)).unwrap();
    assert!(
        r.sessions
            .update(&gone, 0)
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn turn_totals_add_up_without_touching_the_lifecycle(r: Repos) {
    let mut s = session(0);
    r.sessions.insert(&s).await.unwrap();
    let mut tasks = Vec::new();
    for i in 0..10 {
        let repo = Arc::clone(&r.sessions);
        let id = s.id();
        tasks.push(tokio::spawn(async move {
            repo.record_turn(
                id,
                TurnTotals {
                    cost_usd: 0.125,
                    duration_ms: 100,
                    message_count: 2,
                },
                t(10 + i),
            )
            .await
        }));
    }
    for task in tasks {
        task.await.unwrap().unwrap();
    }
    // A lifecycle change based on the pre-turn read still succeeds and keeps the totals.
    let v = s.version();
    s.pause(t(30)).unwrap();
    r.sessions.update(&s, v).await.unwrap();
    let stored = r.sessions.find(s.id()).await.unwrap().unwrap();
    let totals = stored.totals();
    assert!((totals.cost_usd - 1.25).abs() < 1e-9, "{totals:?}");
    assert_eq!(
        (totals.duration_ms, totals.message_count, totals.turn_count),
        (1000, 20, 10)
    );
    assert_eq!(stored.status(), SessionStatus::Paused);
    assert!(
        r.sessions
            .record_turn(SessionId::new(), TurnTotals::default(), t(1))
            .await
            .unwrap_err()
            .is_not_found()
    );
}

async fn sessions_list_and_count_by_status(r: Repos) {
    let mut ids = Vec::new();
    for i in 0..5 {
        let mut s = session(i);
        if i % 2 == 1 {
            s.fail("crashed", t(i + 1)).unwrap();
        }
        r.sessions.insert(&s).await.unwrap();
        ids.push(s.id());
    }
    let failed = SessionFilter {
        status: Some(SessionStatus::Failed),
        ..Default::default()
    };
    let page = r
        .sessions
        .list(&failed, PageRequest::default())
        .await
        .unwrap();
    assert_eq!(
        page.items.iter().map(AgentSession::id).collect::<Vec<_>>(),
        vec![ids[3], ids[1]]
    );
    let counts = r.sessions.count_by_status().await.unwrap();
    assert!(counts.contains(&(SessionStatus::Active, 3)));
    assert!(counts.contains(&(SessionStatus::Failed, 2)));
    assert!(counts.contains(&(SessionStatus::Closed, 0)));
    let _ = Duration::zero();
}

macro_rules! contract {
    ($($name:ident),* $(,)?) => {
        mod sqlite { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::repos(Some(orchestra_tests::Backend::Sqlite)).await).await; } )* }
        mod postgres { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::repos(Some(orchestra_tests::Backend::Postgres)).await).await; } )* }
        mod in_memory { $( #[tokio::test(flavor = "multi_thread", worker_threads = 4)] async fn $name() { super::$name(super::repos(None).await).await; } )* }
    };
}

// The audit chain lives in the database only (the in-memory fake keeps the records).
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_decisions_and_other_audit_events_chain_under_concurrency() {
    decisions_and_other_audit_events_chain_under_concurrency(repos(Some(Backend::Sqlite)).await)
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_decisions_and_other_audit_events_chain_under_concurrency() {
    decisions_and_other_audit_events_chain_under_concurrency(repos(Some(Backend::Postgres)).await)
        .await;
}

async fn a_decision_is_acted_on_once_and_interrupted_claims_become_uncertain(r: Repos) {
    let (a, b, test) = (
        approval("s1", ApprovalKind::Live, 0, 600),
        approval("s1", ApprovalKind::Denial, 1, 600),
        approval("test", ApprovalKind::Test, 2, 600),
    );
    for x in [&a, &b, &test] {
        r.approvals.insert(x).await.unwrap();
        assert_eq!(x.acted_on(), ActedOn::Waiting);
        assert!(
            !r.approvals.claim_action(x.id(), "n1", t(3)).await.unwrap(),
            "nothing to act on yet"
        );
    }
    assert!(
        r.approvals
            .list_unacted(t(1_000), 10)
            .await
            .unwrap()
            .is_empty()
    );
    for (x, at) in [(&a, 10), (&b, 20), (&test, 30)] {
        r.approvals
            .decide(
                x.id(),
                &decision(DecisionOutcome::Approved, "api", at),
                None,
            )
            .await
            .unwrap();
    }
    let acted = |id| {
        let repo = r.approvals.clone();
        async move { repo.find(id).await.unwrap().unwrap().acted_on() }
    };
    assert_eq!(
        acted(test.id()).await,
        ActedOn::Done,
        "a test approval has no session"
    );
    assert_eq!(acted(a.id()).await, ActedOn::Due);
    let ids = |v: Vec<ApprovalRequest>| v.iter().map(ApprovalRequest::id).collect::<Vec<_>>();
    assert_eq!(
        ids(r.approvals.list_unacted(t(15), 10).await.unwrap()),
        vec![a.id()],
        "decided before the cutoff"
    );
    assert_eq!(
        ids(r.approvals.list_unacted(t(1_000), 10).await.unwrap()),
        vec![a.id(), b.id()],
        "oldest first"
    );

    // One claim wins.
    assert!(r.approvals.claim_action(a.id(), "n1", t(40)).await.unwrap());
    assert!(!r.approvals.claim_action(a.id(), "n2", t(40)).await.unwrap());
    assert_eq!(acted(a.id()).await, ActedOn::Acting);
    r.approvals
        .finish_action(a.id(), ActedOn::Done, t(41))
        .await
        .unwrap();
    assert_eq!(acted(a.id()).await, ActedOn::Done);
    assert!(
        !r.approvals.claim_action(a.id(), "n1", t(42)).await.unwrap(),
        "done is done"
    );

    // A claim left by a stopped node: taken over by that node at start, or by anyone once stale.
    assert!(r.approvals.claim_action(b.id(), "n1", t(50)).await.unwrap());
    assert!(
        r.approvals
            .abandon_actions("n2", t(49), t(60), 10)
            .await
            .unwrap()
            .is_empty(),
        "another node's fresh claim"
    );
    let gone = r
        .approvals
        .abandon_actions("n1", t(49), t(60), 10)
        .await
        .unwrap();
    assert_eq!(ids(gone.clone()), vec![b.id()]);
    assert_eq!(gone[0].acted_on(), ActedOn::Uncertain);
    assert_eq!(acted(b.id()).await, ActedOn::Uncertain);
    r.approvals
        .finish_action(b.id(), ActedOn::Done, t(61))
        .await
        .unwrap();
    assert_eq!(
        acted(b.id()).await,
        ActedOn::Uncertain,
        "finishing an abandoned claim changes nothing"
    );
    assert!(
        !r.approvals.claim_action(b.id(), "n1", t(62)).await.unwrap(),
        "never acted on again"
    );

    let c = approval("s2", ApprovalKind::Live, 70, 600);
    r.approvals.insert(&c).await.unwrap();
    r.approvals
        .decide(
            c.id(),
            &decision(DecisionOutcome::Rejected, "api", 71),
            None,
        )
        .await
        .unwrap();
    assert!(r.approvals.claim_action(c.id(), "n2", t(72)).await.unwrap());
    assert!(
        r.approvals
            .abandon_actions("", t(72), t(80), 10)
            .await
            .unwrap()
            .is_empty(),
        "not stale yet"
    );
    assert_eq!(
        ids(r
            .approvals
            .abandon_actions("", t(73), t(80), 10)
            .await
            .unwrap()),
        vec![c.id()],
        "stale"
    );
}

/// One Pending budget approval per session, whoever inserts it: the second is a conflict;
/// once the first is decided another may wait; other sessions and kinds are not held back.
async fn one_budget_approval_waits_per_session(r: Repos) {
    let first = approval("s1", ApprovalKind::Budget, 0, 600);
    r.approvals.insert(&first).await.unwrap();
    let second = approval("s1", ApprovalKind::Budget, 1, 600);
    assert!(
        matches!(
            r.approvals.insert(&second).await,
            Err(orchestra_application::ports::RepositoryError::Conflict(_))
        ),
        "a second Pending budget approval for the session"
    );
    r.approvals
        .insert(&approval("s2", ApprovalKind::Budget, 2, 600))
        .await
        .unwrap();
    r.approvals
        .insert(&approval("s1", ApprovalKind::Live, 3, 600))
        .await
        .unwrap();
    let mut refused = decision(DecisionOutcome::Rejected, "api", 5);
    refused.grant = None;
    refused.scope = ApprovalScope::Once;
    refused.updated_input = None;
    assert!(matches!(
        r.approvals
            .decide(first.id(), &refused, None)
            .await
            .unwrap(),
        DecideOutcome::Decided(_)
    ));
    r.approvals.insert(&second).await.unwrap();
}

contract!(
    one_budget_approval_waits_per_session,
    approvals_round_trip_exactly,
    a_decision_is_compare_and_set,
    racing_decisions_have_exactly_one_winner,
    listing_filters_pages_and_orders_newest_first,
    expiry_takes_only_what_is_due_and_only_once,
    concurrent_sweepers_never_expire_a_row_twice,
    notification_refs_are_stored,
    sessions_round_trip_and_lifecycle_is_optimistic,
    turn_totals_add_up_without_touching_the_lifecycle,
    sessions_list_and_count_by_status,
    a_decision_is_acted_on_once_and_interrupted_claims_become_uncertain,
    transcripts_grow_by_contiguous_parts_and_read_back_whole,
    a_lease_has_one_holder_until_it_expires_or_is_released,
    racing_votes_decide_once_with_every_approver_counted_once,
);

/// Eight different approvers at once on an approval that needs three: two votes are
/// recorded, one decides, the rest find it decided; it is decided once, by three of them.
async fn racing_votes_decide_once_with_every_approver_counted_once(r: Repos) {
    let mut a = approval("s1", ApprovalKind::Live, 0, 600);
    let mut snap = a.snapshot().clone();
    snap.request.approvals_needed = 3;
    a = ApprovalRequest::restore(snap);
    r.approvals.insert(&a).await.unwrap();
    let voters: Vec<String> = (0..8).map(|i| format!("approver-{i}")).collect();
    let outcomes = futures_util::future::join_all(voters.iter().enumerate().map(|(i, v)| {
        let repo = r.approvals.clone();
        let yes = decision(DecisionOutcome::Approved, v, 10 + i64::try_from(i).unwrap());
        let (id, v) = (a.id(), v.clone());
        async move { repo.vote(id, &v, &yes, None, None).await.unwrap() }
    }))
    .await;
    let count = |f: fn(&VoteOutcome) -> bool| outcomes.iter().filter(|o| f(o)).count();
    assert_eq!(
        count(|o| matches!(o, VoteOutcome::Recorded(_))),
        2,
        "{outcomes:#?}"
    );
    assert_eq!(
        count(|o| matches!(o, VoteOutcome::Decided(_))),
        1,
        "{outcomes:#?}"
    );
    assert_eq!(
        count(|o| matches!(
            o,
            VoteOutcome::Refused(DecideApprovalError::AlreadyDecided { .. })
        )),
        5
    );
    let stored = r.approvals.find(a.id()).await.unwrap().unwrap();
    assert_eq!(stored.status(), ApprovalStatus::Approved);
    let by: std::collections::HashSet<&str> =
        stored.votes().iter().map(|v| v.by.as_str()).collect();
    assert_eq!(by.len(), 3, "three different approvers: {by:?}");
    assert_eq!(stored.decision().unwrap().votes.len(), 3);
    // The one who already voted is refused as such on a Pending one.
    let b = {
        let mut snap = approval("s1", ApprovalKind::Live, 1, 600)
            .snapshot()
            .clone();
        snap.request.approvals_needed = 2;
        ApprovalRequest::restore(snap)
    };
    r.approvals.insert(&b).await.unwrap();
    let yes = decision(DecisionOutcome::Approved, "alice", 20);
    let first = r
        .approvals
        .vote(b.id(), "alice", &yes, None, None)
        .await
        .unwrap();
    assert!(matches!(first, VoteOutcome::Recorded(_)), "{first:?}");
    let again = r
        .approvals
        .vote(b.id(), "alice", &yes, None, None)
        .await
        .unwrap();
    assert!(
        matches!(
            again,
            VoteOutcome::Refused(DecideApprovalError::AlreadyVoted { .. })
        ),
        "{again:?}"
    );
}

async fn transcripts_grow_by_contiguous_parts_and_read_back_whole(r: Repos) {
    let s = session(0);
    r.sessions.insert(&s).await.unwrap();
    let id = s.id();
    let tx = &r.transcripts;
    assert_eq!(tx.stored_len(id).await.unwrap(), 0);
    assert_eq!(tx.load(id).await.unwrap(), b"");
    // JSONL with every byte value a line can hold, compressible and not.
    let first: Vec<u8> = (0u8..=255).filter(|b| *b != b'\n').chain([b'\n']).collect();
    let second = format!("{}\n", "{\"type\":\"assistant\"}".repeat(2000)).into_bytes();
    assert!(tx.append(id, 0, first.clone(), t(1)).await.unwrap());
    assert_eq!(tx.stored_len(id).await.unwrap(), first.len() as u64);
    // A part at a stale offset (another capture was first) or past the end is refused.
    assert!(!tx.append(id, 0, b"again\n".to_vec(), t(2)).await.unwrap());
    assert!(
        !tx.append(id, 10_000, b"gap\n".to_vec(), t(2))
            .await
            .unwrap()
    );
    assert!(
        tx.append(id, first.len() as u64, second.clone(), t(3))
            .await
            .unwrap()
    );
    let whole = [first.clone(), second.clone()].concat();
    assert_eq!(tx.stored_len(id).await.unwrap(), whole.len() as u64);
    assert_eq!(tx.load(id).await.unwrap(), whole);
    // Racing captures at the same offset: exactly one part is stored.
    let third = b"{\"n\":3}\n".to_vec();
    let end = whole.len() as u64;
    let racers: Vec<_> = (0..8)
        .map(|_| {
            let (tx, third) = (tx.clone(), third.clone());
            tokio::spawn(async move { tx.append(id, end, third, t(4)).await.unwrap() })
        })
        .collect();
    let mut won = 0;
    for racer in racers {
        won += usize::from(racer.await.unwrap());
    }
    assert_eq!(won, 1, "one capture stores the part");
    assert_eq!(tx.load(id).await.unwrap(), [whole, third].concat());
    // Another session's transcript is its own.
    let other = session(1);
    r.sessions.insert(&other).await.unwrap();
    assert_eq!(tx.stored_len(other.id()).await.unwrap(), 0);
}

async fn a_lease_has_one_holder_until_it_expires_or_is_released(r: Repos) {
    let l = &r.leases;
    let a = l
        .acquire("session:x", "a", Some("http://a:1"), t(0), t(15))
        .await
        .unwrap();
    assert_eq!(
        (a.node_id.as_str(), a.advertise_url.as_deref()),
        ("a", Some("http://a:1"))
    );
    assert_eq!(a.expires_at, t(15));
    // Held: another node gets the holder back, and nothing changes.
    let b = l
        .acquire("session:x", "b", None, t(5), t(20))
        .await
        .unwrap();
    assert_eq!((b.node_id.as_str(), b.expires_at), ("a", t(15)));
    // The holder renews: by taking it again, and by the heartbeat.
    assert_eq!(
        l.acquire("session:x", "a", None, t(6), t(21))
            .await
            .unwrap()
            .expires_at,
        t(21)
    );
    l.acquire("telegram:poller", "a", None, t(6), t(21))
        .await
        .unwrap();
    let mut renewed = l.renew_all("a", t(30)).await.unwrap();
    renewed.sort();
    assert_eq!(renewed, ["session:x", "telegram:poller"]);
    assert!(l.renew_all("b", t(30)).await.unwrap().is_empty());
    // Expired: any node takes it.
    let b = l
        .acquire("session:x", "b", None, t(30), t(45))
        .await
        .unwrap();
    assert_eq!((b.node_id.as_str(), b.expires_at), ("b", t(45)));
    assert_eq!(l.holder("session:x").await.unwrap().unwrap().node_id, "b");
    // Only the holder releases.
    assert!(!l.release("session:x", "a").await.unwrap());
    assert!(l.release("session:x", "b").await.unwrap());
    assert_eq!(l.holder("session:x").await.unwrap(), None);
    assert_eq!(l.release_all("a").await.unwrap(), 1, "the poller's");
    // Eight nodes race for a free lease: one holds it, and every one is told who.
    let racers: Vec<_> = (0..8)
        .map(|i| {
            let l = l.clone();
            tokio::spawn(async move {
                l.acquire("session:y", &format!("n{i}"), None, t(50), t(65))
                    .await
                    .unwrap()
                    .node_id
            })
        })
        .collect();
    let mut told = std::collections::HashSet::new();
    for racer in racers {
        told.insert(racer.await.unwrap());
    }
    assert_eq!(told.len(), 1, "one holder: {told:?}");
}

/// Decides a new approval (the probe that LISTEN is on, and the end marker).
async fn decide_new(r: &Repos) -> ApprovalId {
    let a = approval("probe", ApprovalKind::Live, 0, 600);
    r.approvals.insert(&a).await.unwrap();
    let out = r
        .approvals
        .decide(a.id(), &decision(DecisionOutcome::Rejected, "api", 1), None)
        .await
        .unwrap();
    assert!(matches!(out, DecideOutcome::Decided(_)), "{out:?}");
    a.id()
}

// Decisions reach other nodes at once (issue 10 point 4): PostgreSQL announces every
// approval that leaves Pending, whatever wrote it, once; nothing else.
#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn postgres_announces_each_approval_that_leaves_pending_once() {
    let r = repos(Some(Backend::Postgres)).await;
    let (tx, mut rx) = tokio::sync::mpsc::unbounded_channel();
    let listener = DecisionListener::start(r.db.as_ref().unwrap(), move |id| {
        let _ = tx.send(id);
    })
    .unwrap()
    .expect("a listener on PostgreSQL");
    // The listener connects on its own thread: decide probes until one is heard.
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(15);
    loop {
        let probe = decide_new(&r).await;
        if let Ok(Some(heard)) =
            tokio::time::timeout(std::time::Duration::from_millis(200), rx.recv()).await
        {
            assert_eq!(heard, probe);
            break;
        }
        assert!(
            std::time::Instant::now() < deadline,
            "LISTEN never heard a decision"
        );
    }
    while rx.try_recv().is_ok() {}

    let approved = approval("s", ApprovalKind::Live, 0, 600);
    let expiring = approval("s", ApprovalKind::Live, 0, 100);
    let pending = approval("s", ApprovalKind::Live, 0, 600);
    for a in [&approved, &expiring, &pending] {
        r.approvals.insert(a).await.unwrap();
    }
    r.approvals
        .decide(
            approved.id(),
            &decision(DecisionOutcome::Approved, "api", 10),
            None,
        )
        .await
        .unwrap();
    // A second decision changes nothing and announces nothing.
    let again = r
        .approvals
        .decide(
            approved.id(),
            &decision(DecisionOutcome::Rejected, "api", 11),
            None,
        )
        .await
        .unwrap();
    assert!(matches!(again, DecideOutcome::NotPending(_)), "{again:?}");
    assert_eq!(
        r.approvals
            .expire_due(t(200), t(200), 10)
            .await
            .unwrap()
            .len(),
        1
    );
    // Other writes to a decided row (the outbox, acting on it) announce nothing.
    assert!(
        r.approvals
            .claim_action(approved.id(), "node", t(20))
            .await
            .unwrap()
    );
    r.approvals
        .finish_action(approved.id(), ActedOn::Done, t(21))
        .await
        .unwrap();
    let end = decide_new(&r).await;

    let mut heard = Vec::new();
    loop {
        let id = tokio::time::timeout(std::time::Duration::from_secs(10), rx.recv())
            .await
            .expect("the end marker is announced")
            .unwrap();
        if id == end {
            break;
        }
        heard.push(id);
    }
    assert_eq!(
        heard,
        [approved.id(), expiring.id()],
        "the pending one stays unannounced"
    );
    listener.stop();
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(5);
    while !listener.is_finished() {
        assert!(
            std::time::Instant::now() < deadline,
            "the listener thread did not stop"
        );
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 4)]
async fn sqlite_needs_no_decision_listener() {
    let r = repos(Some(Backend::Sqlite)).await;
    assert!(
        DecisionListener::start(r.db.as_ref().unwrap(), |_| {})
            .unwrap()
            .is_none()
    );
}
