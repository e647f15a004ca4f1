use super::*;
use chrono::TimeZone;
use serde_json::json;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn pending() -> ApprovalRequest {
    ApprovalRequest::open(
        ApprovalId::new(),
        NewApproval {
            session_id: "s".into(),
            agent_id: "claude-code".into(),
            tool_name: "Bash".into(),
            tool_input: json!({"command": "ls"}),
            tool_use_id: None,
            kind: ApprovalKind::Live,
            description: None,
            session_rule: None,
            risk: Default::default(),
            working_directory: None,
            approvals_needed: 1,
        },
        t(0),
        t(60),
    )
}

#[test]
fn a_pending_approval_can_be_approved_once() {
    let policy = ApprovalTimeoutPolicy::default();
    let mut a = pending();
    let d = a
        .decide(
            DecisionOutcome::Approved,
            "api",
            Some("ok".into()),
            t(10),
            &policy,
        )
        .unwrap();
    a.apply(d);
    assert_eq!(a.status(), ApprovalStatus::Approved);
    assert_eq!(a.decision().unwrap().decided_by, "api");
    let again = a.decide(DecisionOutcome::Rejected, "api", None, t(11), &policy);
    assert_eq!(
        again,
        Err(DecideApprovalError::AlreadyDecided {
            current: ApprovalStatus::Approved
        })
    );
}

#[test]
fn a_human_cannot_decide_after_the_deadline_but_the_sweeper_can_expire() {
    let policy = ApprovalTimeoutPolicy::default();
    let a = pending();
    assert!(matches!(
        a.decide(DecisionOutcome::Approved, "api", None, t(61), &policy),
        Err(DecideApprovalError::PastDeadline { .. })
    ));
    assert!(
        a.decide(
            DecisionOutcome::Expired,
            "system:timeout",
            None,
            t(61),
            &policy
        )
        .is_ok()
    );
    assert!(
        a.decide(DecisionOutcome::Cancelled, "api", None, t(61), &policy)
            .is_ok()
    );
}

#[test]
fn grace_extends_the_deadline() {
    let policy = ApprovalTimeoutPolicy {
        grace: Duration::seconds(30),
        ..Default::default()
    };
    assert!(!policy.is_due(t(60), t(80)));
    assert!(policy.is_due(t(60), t(90)));
    assert!(
        pending()
            .decide(DecisionOutcome::Approved, "api", None, t(80), &policy)
            .is_ok()
    );
}

#[test]
fn requested_timeouts_are_clamped_to_the_maximum() {
    let policy = ApprovalTimeoutPolicy::default();
    assert_eq!(policy.deadline(t(0), None), t(30 * 60));
    assert_eq!(
        policy.deadline(t(0), Some(Duration::hours(10))),
        t(120 * 60)
    );
    assert_eq!(policy.deadline(t(0), Some(Duration::seconds(-5))), t(1));
}

#[test]
fn statuses_round_trip_and_finality_is_right() {
    for s in ApprovalStatus::ALL {
        assert_eq!(s.as_str().parse::<ApprovalStatus>().unwrap(), s);
    }
    assert!(!ApprovalStatus::Pending.is_final());
    assert!(ApprovalStatus::Expired.is_final());
    assert!(DecisionOutcome::Approved.allows());
    assert!(!DecisionOutcome::Expired.allows());
}
