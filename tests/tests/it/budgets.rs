//! Session budgets with the fake CLI (whose `COST <usd>` prompt sets a turn's cost) and the
//! fake Bot API, on both backends: a budget above the server's is refused; once a session
//! spent its budget a `Budget` approval asks a human, messages get 409 `budget_exhausted`
//! and start no turn, approving allows that much more than the session spent, and the
//! spend is counted by key and root.

use std::time::Duration;

use orchestra_tests::Backend;
use serde_json::{Value, json};

use crate::escalation::{fixture, message_for, wait_for_pending};

/// Whether a JSON number is `want` give or take rounding.
fn near(v: &Value, want: f64) -> bool {
    v.as_f64().is_some_and(|x| (x - want).abs() < 1e-9)
}

async fn a_spent_budget_holds_the_next_turn_until_a_human_raises_it(backend: Backend) {
    let f = fixture(backend, &[("ORCHESTRA__BUDGETS__SESSION_USD", "1")]).await;
    let (status, err) = f
        .app
        .post_json(
            "/api/sessions",
            &json!({"workingDirectory": f.work.path(), "maxBudgetUsd": 2.0}),
        )
        .await;
    assert_eq!(status, 400, "above the server's budget: {err}");
    assert_eq!(err["field"], "maxBudgetUsd", "{err}");

    let session = f
        .app
        .create_session(f.work.path(), json!({"maxBudgetUsd": 0.5}))
        .await;
    let (_, s) = f.app.get_json(&format!("/api/sessions/{session}")).await;
    assert_eq!(s["budgetUsd"], 0.5, "{s}");
    for _ in 0..2 {
        let (_, t) = f.app.turn(&session, "COST 0.3").await;
        assert_eq!(t["status"], "Completed", "{t}");
    }
    // $0.60 of $0.50: a human is asked, and the next message starts nothing.
    let id = wait_for_pending(&f.app, &session).await;
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        (a["kind"].as_str(), a["toolName"].as_str()),
        (Some("Budget"), Some("budget")),
        "{a}"
    );
    assert_eq!(a["toolInput"]["raiseUsd"], 0.5, "{a}");
    assert!(
        a["description"]
            .as_str()
            .unwrap()
            .contains("spent $0.60 of $0.50"),
        "{a}"
    );
    f.tg.wait_for(Duration::from_secs(5), "the budget message", |t| {
        message_for(t, &id).is_some()
    })
    .await;
    assert!(
        f.tg.sent()
            .iter()
            .any(|m| m.text.contains(&id) && m.text.contains("Budget spent"))
    );
    let (status, refused) = f
        .app
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"prompt": "COST 0.1"}),
        )
        .await;
    assert_eq!(status, 409, "{refused}");
    assert_eq!(refused["code"], "budget_exhausted", "{refused}");
    assert!(
        refused["message"].as_str().unwrap().contains(&id),
        "names the approval: {refused}"
    );
    let (_, turns) = f
        .app
        .get_json(&format!("/api/sessions/{session}/turns"))
        .await;
    assert_eq!(turns["total"], 2, "no turn started");
    let (_, budget_approvals) = f
        .app
        .get_json(&format!("/api/approvals?sessionId={session}&kind=Budget"))
        .await;
    assert_eq!(
        budget_approvals["total"], 1,
        "one approval, however many messages"
    );

    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200);
    f.app
        .wait_for_json(
            &format!("/api/sessions/{session}"),
            Duration::from_secs(10),
            |s| near(&s["budgetUsd"], 1.1),
        )
        .await;
    let (_, t) = f.app.turn(&session, "COST 0.1").await;
    assert_eq!(t["status"], "Completed", "raised: {t}");
    let (_, s) = f.app.get_json(&format!("/api/sessions/{session}")).await;
    assert!(
        near(&s["budgetUsd"], 1.1),
        "raised once, to $0.50 more than the $0.60 spent: {s}"
    );

    let m = f.app.metrics_text().await;
    let spent: f64 = m
        .lines()
        .filter(|l| l.starts_with("agent_cost_usd_total{") && l.contains("root=\"other\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!((spent - 0.7).abs() < 1e-9, "{m}");
    assert_eq!(
        orchestra_tests::counter(&m, "agent_budget_refusals_total{budget=\"session\"}"),
        1,
        "{m}"
    );
    assert_eq!(
        orchestra_tests::counter(&m, "agent_budget_raises_total"),
        1,
        "{m}"
    );
    f.app.shutdown().await;
}

/// With the real CLI against the mock API, which prices each turn (about half a cent here): a
/// budget of a tenth of a cent is spent by the first turn, and the next message waits for a
/// human.
async fn the_real_clis_own_pricing_spends_the_budget(backend: Backend) {
    let f = crate::real_cli::fixture_with(backend, &[]).await;
    let session = f
        .app
        .create_session(f.work.path(), json!({"maxBudgetUsd": 0.001}))
        .await;
    let (_, t) = f.app.turn(&session, "first question").await;
    assert_eq!(t["status"], "Completed", "{t}");
    let spent = t["costUsd"].as_f64().unwrap();
    assert!(spent > 0.001, "the CLI priced the mock's usage: {t}");
    let (status, refused) = f
        .app
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"prompt": "again"}),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("budget_exhausted")),
        "{refused}"
    );
    let id = wait_for_pending(&f.app, &session).await;
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "updatedInput": {"raiseUsd": 1.0}}),
        )
        .await;
    assert_eq!(status, 200, "an admin may raise by another amount");
    f.app
        .wait_for_json(
            &format!("/api/sessions/{session}"),
            Duration::from_secs(10),
            |s| near(&s["budgetUsd"], spent + 1.0),
        )
        .await;
    let (_, t) = f.app.turn(&session, "second question").await;
    assert_eq!(t["status"], "Completed", "{t}");
    f.app.shutdown().await;
    f.mock.stop().await;
}

/// `budgets.daily_key_usd`: the sessions one key started share a daily budget; another
/// key's are not held back.
async fn a_key_that_spent_its_daily_budget_starts_no_more_turns(backend: Backend) {
    let f = fixture(backend, &[("ORCHESTRA__BUDGETS__DAILY_KEY_USD", "0.5")]).await;
    let ci = f.app.client_as(orchestra_domain::Role::Operator).await;
    let post = |path: String, body: serde_json::Value| {
        let (ci, url) = (&ci, f.app.url(&path));
        async move {
            let res = ci.post(url).json(&body).send().await.unwrap();
            let status = res.status().as_u16();
            (status, res.json::<serde_json::Value>().await.unwrap())
        }
    };
    let mut sessions = Vec::new();
    for _ in 0..2 {
        let (status, s) = post(
            "/api/sessions".into(),
            json!({"workingDirectory": f.work.path()}),
        )
        .await;
        assert_eq!(status, 201, "{s}");
        let id = s["id"].as_str().unwrap().to_owned();
        let (status, t) = post(
            format!("/api/sessions/{id}/messages"),
            json!({"prompt": "COST 0.3", "wait": true}),
        )
        .await;
        assert_eq!(
            (status, t["status"].as_str()),
            (200, Some("Completed")),
            "{t}"
        );
        sessions.push(id);
    }
    // $0.60 today over the key's two sessions: neither starts another turn.
    for id in &sessions {
        let (status, refused) = post(
            format!("/api/sessions/{id}/messages"),
            json!({"prompt": "COST 0.1"}),
        )
        .await;
        assert_eq!(
            (status, refused["code"].as_str()),
            (409, Some("budget_exhausted")),
            "{refused}"
        );
        assert!(
            refused["message"]
                .as_str()
                .unwrap()
                .contains("daily budget"),
            "{refused}"
        );
    }
    // Another key's session is not held back, but the spent key cannot drive it either.
    let other = f.app.create_session(f.work.path(), json!({})).await;
    let (_, t) = f.app.turn(&other, "COST 0.3").await;
    assert_eq!(t["status"], "Completed", "{t}");
    let (status, refused) = post(
        format!("/api/sessions/{other}/messages"),
        json!({"prompt": "COST 0.1"}),
    )
    .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("budget_exhausted")),
        "a key past its daily budget sends no message to any session: {refused}"
    );
    let m = f.app.metrics_text().await;
    assert_eq!(
        orchestra_tests::counter(&m, "agent_budget_refusals_total{budget=\"daily_key\"}"),
        3,
        "{m}"
    );
    // The spend by key: $0.60 by the spent key, $0.30 by the other.
    let mut by_key: Vec<f64> = m
        .lines()
        .filter(|l| l.starts_with("agent_cost_usd_total{key=\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .collect();
    by_key.sort_by(f64::total_cmp);
    assert_eq!(by_key.len(), 2, "{m}");
    assert!(
        (by_key[0] - 0.3).abs() < 1e-9 && (by_key[1] - 0.6).abs() < 1e-9,
        "{by_key:?}: {m}"
    );
    f.app.shutdown().await;
}

/// A turn cap works the same way: the session ran its turns, a human allows as many again.
async fn a_session_that_ran_its_turns_waits_for_a_human_to_allow_more(backend: Backend) {
    let f = fixture(backend, &[("ORCHESTRA__BUDGETS__SESSION_TURNS", "5")]).await;
    let (status, err) = f
        .app
        .post_json(
            "/api/sessions",
            &json!({"workingDirectory": f.work.path(), "maxSessionTurns": 6}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("maxSessionTurns")),
        "{err}"
    );
    let session = f
        .app
        .create_session(f.work.path(), json!({"maxSessionTurns": 2}))
        .await;
    for _ in 0..2 {
        let (_, t) = f.app.turn(&session, "hello").await;
        assert_eq!(t["status"], "Completed", "{t}");
    }
    let id = wait_for_pending(&f.app, &session).await;
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(a["kind"], "Budget");
    assert_eq!(a["toolInput"]["raiseTurns"], 2, "{a}");
    assert!(
        a["toolInput"].get("raiseUsd").is_none(),
        "only what was spent: {a}"
    );
    let (status, refused) = f
        .app
        .post_json(
            &format!("/api/sessions/{session}/messages"),
            &json!({"prompt": "again"}),
        )
        .await;
    assert_eq!(
        (status, refused["code"].as_str()),
        (409, Some("budget_exhausted")),
        "{refused}"
    );
    assert!(
        refused["message"]
            .as_str()
            .unwrap()
            .contains("ran 2 of its 2 turns"),
        "{refused}"
    );
    let (status, _) = f
        .app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true}),
        )
        .await;
    assert_eq!(status, 200);
    f.app
        .wait_for_json(
            &format!("/api/sessions/{session}"),
            Duration::from_secs(10),
            |s| s["turnBudget"] == 4,
        )
        .await;
    let (_, t) = f.app.turn(&session, "again").await;
    assert_eq!(t["status"], "Completed", "{t}");
    f.app.shutdown().await;
}

/// `budgets.roots`: a session under a root gets the root's budget when it names none, may not
/// ask for more, and its spend is counted under that root.
async fn a_roots_budget_is_the_default_and_the_cap_of_its_sessions(backend: Backend) {
    let f = fixture(backend, &[("ORCHESTRA__BUDGETS__ROOTS", "/=0.25")]).await;
    let (status, err) = f
        .app
        .post_json(
            "/api/sessions",
            &json!({"workingDirectory": f.work.path(), "maxBudgetUsd": 0.5}),
        )
        .await;
    assert_eq!(
        (status, err["field"].as_str()),
        (400, Some("maxBudgetUsd")),
        "above the root's budget: {err}"
    );
    let session = f.app.create_session(f.work.path(), json!({})).await;
    let (_, s) = f.app.get_json(&format!("/api/sessions/{session}")).await;
    assert!(near(&s["budgetUsd"], 0.25), "the root's budget: {s}");
    let (_, t) = f.app.turn(&session, "COST 0.3").await;
    assert_eq!(t["status"], "Completed", "{t}");
    let id = wait_for_pending(&f.app, &session).await;
    let (_, a) = f.app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(a["kind"], "Budget", "{a}");
    let m = f.app.metrics_text().await;
    let under_root: f64 = m
        .lines()
        .filter(|l| l.starts_with("agent_cost_usd_total{") && l.contains("root=\"/\""))
        .filter_map(|l| l.rsplit(' ').next()?.parse::<f64>().ok())
        .sum();
    assert!((under_root - 0.3).abs() < 1e-9, "{m}");
    f.app.shutdown().await;
}

both_backends!(
    a_roots_budget_is_the_default_and_the_cap_of_its_sessions,
    a_session_that_ran_its_turns_waits_for_a_human_to_allow_more,
    a_key_that_spent_its_daily_budget_starts_no_more_turns,
    a_spent_budget_holds_the_next_turn_until_a_human_raises_it,
    the_real_clis_own_pricing_spends_the_budget,
);
