use super::*;
use chrono::TimeZone;

fn t(secs: i64) -> DateTime<Utc> {
    Utc.timestamp_opt(1_700_000_000 + secs, 0).unwrap()
}

fn session() -> AgentSession {
    AgentSession::start(
        NewSession {
            id: SessionId::new(),
            agent_id: "claude-code".into(),
            working_directory: "/tmp".into(),
            model: None,
            permission_mode: PermissionMode::Default,
            allowed_tools: vec![],
            disallowed_tools: vec![],
            append_system_prompt: None,
            max_turns: None,
            created_by: None,
            max_budget_usd: None,
            max_session_turns: None,
        },
        t(0),
    )
}

#[test]
fn a_raise_allows_that_much_more_than_was_spent_and_never_lowers_a_limit() {
    let mut spec = session().spec().clone();
    spec.max_budget_usd = Some(1.0);
    spec.max_session_turns = Some(2);
    let mut s = AgentSession::start(spec, t(0));
    let turn = |usd| TurnTotals {
        cost_usd: usd,
        duration_ms: 1,
        message_count: 1,
    };
    s.record_turn(turn(0.5), t(1));
    s.record_turn(turn(2.5), t(2));
    s.record_turn(turn(0.0), t(3));
    assert!(s.budget_exhausted() && s.turns_exhausted());
    s.raise_budget(1.0, t(4));
    s.raise_turns(2, t(4));
    assert_eq!(s.budget_usd(), Some(4.0), "$3 spent of $1: $1 more is $4");
    assert_eq!(s.turn_budget(), Some(5), "3 of 2 ran: 2 more is 5");
    assert!(!s.budget_exhausted() && !s.turns_exhausted());
    s.raise_budget(-1.0, t(5));
    s.raise_budget(f64::NAN, t(5));
    assert_eq!(s.budget_usd(), Some(4.0));
}

#[test]
fn a_new_session_is_active_with_zero_totals() {
    let s = session();
    assert_eq!(s.status(), SessionStatus::Active);
    assert_eq!(s.totals(), SessionTotals::default());
    assert_eq!(s.version(), 0);
}

#[test]
fn pause_then_resume_returns_to_active_and_bumps_the_version() {
    let mut s = session();
    s.pause(t(1)).unwrap();
    assert_eq!(s.status(), SessionStatus::Paused);
    s.resume(t(2)).unwrap();
    assert_eq!(s.status(), SessionStatus::Active);
    assert_eq!(s.version(), 2);
    assert_eq!(s.updated_at(), t(2));
}

#[test]
fn an_active_session_cannot_be_resumed() {
    let err = session().resume(t(1)).unwrap_err();
    assert_eq!(
        err,
        TransitionError {
            from: SessionStatus::Active,
            action: "resume"
        }
    );
}

#[test]
fn a_closed_session_accepts_nothing() {
    let mut s = session();
    s.close(t(1)).unwrap();
    assert_eq!(s.closed_at(), Some(t(1)));
    assert!(s.pause(t(2)).is_err());
    assert!(s.resume(t(2)).is_err());
    assert!(s.close(t(2)).is_err());
    assert!(s.fail("x", t(2)).is_err());
    assert!(s.ensure_accepts_turns().is_err());
}

#[test]
fn a_failed_session_keeps_its_reason_and_is_resumable() {
    let mut s = session();
    s.fail("process exited with code 1", t(1)).unwrap();
    assert_eq!(s.last_error(), Some("process exited with code 1"));
    assert!(s.status().is_resumable());
    s.resume(t(2)).unwrap();
    assert_eq!(s.last_error(), None);
}

#[test]
fn turns_add_up_and_bad_figures_are_ignored() {
    let mut s = session();
    s.record_turn(
        TurnTotals {
            cost_usd: 0.25,
            duration_ms: 100,
            message_count: 2,
        },
        t(1),
    );
    s.record_turn(
        TurnTotals {
            cost_usd: f64::NAN,
            duration_ms: -5,
            message_count: -1,
        },
        t(2),
    );
    s.record_turn(
        TurnTotals {
            cost_usd: 0.5,
            duration_ms: 50,
            message_count: 1,
        },
        t(3),
    );
    let totals = s.totals();
    assert!((totals.cost_usd - 0.75).abs() < 1e-9);
    assert_eq!(totals.duration_ms, 150);
    assert_eq!(totals.message_count, 3);
    assert_eq!(totals.turn_count, 3);
}

#[test]
fn statuses_and_modes_parse_case_insensitively() {
    assert_eq!(
        "paused".parse::<SessionStatus>().unwrap(),
        SessionStatus::Paused
    );
    assert_eq!(
        "ACCEPTEDITS".parse::<PermissionMode>().unwrap(),
        PermissionMode::AcceptEdits
    );
    assert!("sleeping".parse::<SessionStatus>().is_err());
}

#[test]
fn a_long_failure_reason_is_truncated() {
    let mut s = session();
    s.fail("é".repeat(5000), t(1)).unwrap();
    assert_eq!(s.last_error().unwrap().chars().count(), 2000);
}
