//! Grants made by decisions, listed and revoked, over the in-memory repositories.

use std::sync::Arc;

use chrono::Duration;
use orchestra_domain::{
    AgentSession, ApprovalKind, ApprovalScope, GrantState, NewApproval, NewSession, PermissionMode,
    SessionId,
};
use serde_json::json;

use super::GrantHandlers;
use crate::approvals::{
    ApprovalDeps, ApprovalEvents, DecideApproval, DecideApprovalHandler, NotificationDispatcher,
    QueueGauge, RequestApproval, RequestApprovalHandler,
};
use crate::ports::{ApprovalRepository, Clock, SessionRepository};
use crate::testing::{
    InMemoryApprovalRepository, InMemorySessionRepository, ManualClock, RecordingNotifier,
};
use crate::{AppError, InvalidInput};

struct Fixture {
    clock: Arc<ManualClock>,
    request: RequestApprovalHandler,
    decide: DecideApprovalHandler,
    grants: GrantHandlers,
    session: SessionId,
}

async fn fixture() -> Fixture {
    let store = Arc::new(InMemoryApprovalRepository::default());
    let repo: Arc<dyn ApprovalRepository> = store.clone();
    let clock = Arc::new(ManualClock::fixed());
    let sessions = Arc::new(InMemorySessionRepository::default());
    let session = AgentSession::start(
        NewSession {
            id: SessionId::new(),
            agent_id: "a".into(),
            working_directory: "/srv/work".into(),
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
        clock.now(),
    );
    sessions.insert(&session).await.unwrap();
    let deps = ApprovalDeps {
        repo: repo.clone(),
        clock: clock.clone(),
        policy: orchestra_domain::ApprovalTimeoutPolicy::default(),
        events: ApprovalEvents::default(),
        dispatcher: NotificationDispatcher::new(RecordingNotifier::shared(), repo.clone()),
        audit: None,
        queue_gauge: QueueGauge::new(repo),
        agent_home: None,
    };
    let sessions: Arc<dyn SessionRepository> = sessions;
    let clock_port: Arc<dyn Clock> = clock.clone();
    Fixture {
        request: RequestApprovalHandler::new(deps.clone()),
        decide: DecideApprovalHandler::new(deps),
        grants: GrantHandlers::new(store, sessions, clock_port, false),
        clock,
        session: session.id(),
    }
}

impl Fixture {
    async fn ask(
        &self,
        tool: &str,
        input: serde_json::Value,
        rule: Option<&str>,
    ) -> orchestra_domain::ApprovalId {
        let (a, _) = self
            .request
            .handle(RequestApproval {
                request: NewApproval {
                    session_id: self.session.to_string(),
                    agent_id: "a".into(),
                    tool_name: tool.into(),
                    tool_input: input,
                    tool_use_id: None,
                    kind: ApprovalKind::Live,
                    description: None,
                    session_rule: rule.map(str::to_owned),
                    risk: Default::default(),
                    working_directory: Some("/srv/work".into()),
                    approvals_needed: 1,
                },
                timeout: None,
                await_delivery: false,
            })
            .await
            .unwrap();
        a.id()
    }

    async fn approve(
        &self,
        id: orchestra_domain::ApprovalId,
        scope: ApprovalScope,
        rule: Option<&str>,
        minutes: Option<u32>,
    ) -> Result<orchestra_domain::ApprovalRequest, AppError> {
        self.decide
            .handle(DecideApproval {
                id,
                approved: true,
                decided_by: "alice".into(),
                voter: "alice".into(),
                reason: None,
                updated_input: None,
                scope,
                rule: rule.map(str::to_owned),
                expires_in_minutes: minutes,
                expected_version: None,
            })
            .await
    }
}

fn field_of(err: AppError) -> String {
    match err {
        AppError::Invalid(InvalidInput { field, .. }) => field.to_owned(),
        other => panic!("not a validation error: {other:?}"),
    }
}

#[tokio::test]
async fn a_decision_with_a_rule_and_minutes_makes_a_grant_that_expires_and_can_be_revoked() {
    let f = fixture().await;
    let id = f
        .ask(
            "Bash",
            json!({"command": "npm test"}),
            Some("Bash(npm test:*)"),
        )
        .await;
    let decided = f
        .approve(id, ApprovalScope::Rule, Some("Bash(npm:*)"), Some(30))
        .await
        .unwrap();
    let terms = decided.decision().unwrap().grant.clone().unwrap();
    assert_eq!(
        terms.rule, "Bash(npm:*)",
        "the approver's rule, not the suggestion"
    );
    assert_eq!(
        terms.expires_at,
        Some(f.clock.now() + Duration::minutes(30))
    );

    let listed = f.grants.list(f.session).await.unwrap();
    assert_eq!(listed.len(), 1);
    assert_eq!(listed[0].state, GrantState::Active);
    assert_eq!(listed[0].grant.granted_by, "alice");
    f.clock.advance(Duration::minutes(30));
    assert_eq!(
        f.grants.list(f.session).await.unwrap()[0].state,
        GrantState::Expired
    );

    let revoked = f.grants.revoke(f.session, id, "bob").await.unwrap();
    assert_eq!(revoked.state, GrantState::Revoked);
    assert_eq!(revoked.grant.terms.revoked.unwrap().by, "bob");
    let again = f.grants.revoke(f.session, id, "carol").await.unwrap_err();
    assert!(matches!(again, AppError::Conflict { .. }), "{again:?}");
    assert!(again.to_string().contains("by bob"), "{again}");
    let other_session = f
        .grants
        .revoke(SessionId::new(), id, "bob")
        .await
        .unwrap_err();
    assert!(matches!(
        other_session,
        AppError::NotFound {
            what: "session",
            ..
        }
    ));
}

#[tokio::test]
async fn scopes_rules_and_minutes_are_checked_before_anything_is_decided() {
    let f = fixture().await;
    let npm = f
        .ask(
            "Bash",
            json!({"command": "npm test"}),
            Some("Bash(npm test:*)"),
        )
        .await;
    for (scope, rule, minutes, field) in [
        (ApprovalScope::Once, Some("Bash(npm:*)"), None, "rule"),
        (ApprovalScope::Once, None, Some(5), "expiresInMinutes"),
        (ApprovalScope::Session, Some("Bash(npm:*)"), None, "rule"),
        (ApprovalScope::Rule, Some("Bash"), None, "rule"),
        (ApprovalScope::Rule, Some("Bash(curl:*)"), None, "rule"),
        (ApprovalScope::Rule, None, Some(0), "expiresInMinutes"),
        (ApprovalScope::Rule, None, Some(10_081), "expiresInMinutes"),
    ] {
        let err = f.approve(npm, scope, rule, minutes).await.unwrap_err();
        assert_eq!(field_of(err), field, "{scope:?} {rule:?} {minutes:?}");
    }
    // None of those decided it.
    let ok = f
        .approve(npm, ApprovalScope::Session, None, None)
        .await
        .unwrap();
    let terms = ok.decision().unwrap().grant.clone().unwrap();
    assert_eq!(
        (terms.rule.as_str(), terms.expires_at),
        ("Bash(npm test:*)", None)
    );

    // A call with no suggestion: scope rule needs a rule, and one is enough.
    let write = f
        .ask("Write", json!({"file_path": "/srv/work/src/a.rs"}), None)
        .await;
    let err = f
        .approve(write, ApprovalScope::Rule, None, None)
        .await
        .unwrap_err();
    assert_eq!(field_of(err), "rule");
    let err = f
        .approve(write, ApprovalScope::Session, None, None)
        .await
        .unwrap_err();
    assert_eq!(field_of(err), "scope");
    let ok = f
        .approve(write, ApprovalScope::Rule, Some("Edit(src/**)"), None)
        .await
        .unwrap();
    assert_eq!(
        ok.decision().unwrap().grant.as_ref().unwrap().rule,
        "Edit(src/**)"
    );
    let listed = f.grants.list(f.session).await.unwrap();
    assert_eq!(listed.len(), 2);
}
