//! The HTTP API over the real application, on SQLite and on PostgreSQL.

use orchestra_tests::{Backend, TestApp};
use serde_json::{Value, json};

async fn health_and_readiness_answer_200_with_the_database_check(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    for path in ["/health", "/health/ready", "/health/live"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 200, "{path}: {body}");
        assert_eq!(body["status"], "Healthy");
    }
    let (_, body) = app.get_json("/health").await;
    assert_eq!(body["checks"][0]["name"], "database");
    app.shutdown().await;
}

async fn database_diagnostics_report_backend_pool_and_migrations(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app.get_json("/api/diagnostics/database").await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["Status"], "Connected");
    assert_eq!(
        body["Backend"],
        if backend == Backend::Sqlite {
            "sqlite"
        } else {
            "postgresql"
        }
    );
    assert!(body["ConnectionsActive"].as_u64().unwrap() < body["MaxPoolSize"].as_u64().unwrap());
    assert!(body["ConnectionsIdle"].is_u64());
    assert_eq!(body["PendingMigrations"], 0);
    assert!(
        body["MigrationVersion"]
            .as_str()
            .unwrap()
            .starts_with("2026")
    );
    assert!(
        !body.to_string().contains("unused"),
        "the password must not appear: {body}"
    );
    app.shutdown().await;
}

async fn the_smoke_test_approval_is_created_listed_and_cancelled(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let (status, body) = app
        .post_json(
            "/api/approvals/test",
            &json!({"toolName": "TestTool", "sessionId": "test-session"}),
        )
        .await;
    assert_eq!(status, 201, "{body}");
    assert_eq!(body["notification"], "disabled");
    let id = body["approval"]["id"].as_str().unwrap().to_owned();
    assert_eq!(body["approval"]["status"], "Pending");
    assert_eq!(body["approval"]["toolName"], "TestTool");
    assert_eq!(body["approval"]["kind"], "Test");

    let (status, got) = app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(status, 200);
    assert_eq!(
        got["createdAt"], body["approval"]["createdAt"],
        "what is read back equals what was returned"
    );

    let (_, metrics) = app.get_json("/api/diagnostics/metrics").await;
    assert_eq!(metrics["QueueSize"], 1);

    let (status, cancelled) = app.delete_json("/api/approvals/test").await;
    assert_eq!(status, 200, "{cancelled}");
    assert_eq!(cancelled["cancelled"], 1);
    assert_eq!(cancelled["ids"][0], id.as_str());
    let (_, got) = app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(got["status"], "Cancelled");
    let (_, metrics) = app.get_json("/api/diagnostics/metrics").await;
    assert_eq!(metrics["QueueSize"], 0);

    // Nothing left to cancel is still 200.
    let (status, again) = app.delete_json("/api/approvals/test").await;
    assert_eq!((status, again["cancelled"].as_u64()), (200, Some(0)));
    app.shutdown().await;
}

async fn a_manual_decision_is_recorded_once(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_test_approval().await;
    let (status, body) = app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": true, "reason": "Telegram is down"}),
        )
        .await;
    assert_eq!(status, 200, "{body}");
    assert_eq!(body["status"], "Approved");
    // The key that decided, not a client-chosen name (issue 8: who decided is known).
    assert_eq!(body["decidedBy"], "key:bootstrap-admin");
    assert_eq!(body["reason"], "Telegram is down");

    let (status, body) = app
        .post_json(
            &format!("/api/approvals/{id}/approve"),
            &json!({"approved": false, "reason": "changed my mind"}),
        )
        .await;
    assert_eq!(status, 409, "{body}");
    assert_eq!(body["code"], "approval_already_decided");
    let (_, got) = app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(
        (got["status"].as_str(), got["reason"].as_str()),
        (Some("Approved"), Some("Telegram is down"))
    );
    let (status, body) = app
        .post_json(&format!("/api/approvals/{id}/cancel"), &json!({}))
        .await;
    assert_eq!(
        (status, body["code"].as_str()),
        (409, Some("approval_already_decided"))
    );
    app.shutdown().await;
}

async fn concurrent_decisions_over_http_have_one_winner(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_test_approval().await;
    let mut tasks = Vec::new();
    for i in 0..20 {
        let client = app.client.clone();
        let url = app.url(&format!("/api/approvals/{id}/approve"));
        tasks.push(tokio::spawn(async move {
            client
                .post(url)
                .json(&json!({"approved": i % 2 == 0, "decidedBy": format!("user{i}")}))
                .send()
                .await
                .unwrap()
                .status()
                .as_u16()
        }));
    }
    let mut statuses = Vec::new();
    for t in tasks {
        statuses.push(t.await.unwrap());
    }
    assert_eq!(
        statuses.iter().filter(|s| **s == 200).count(),
        1,
        "{statuses:?}"
    );
    assert_eq!(
        statuses.iter().filter(|s| **s == 409).count(),
        19,
        "{statuses:?}"
    );
    app.shutdown().await;
}

async fn listing_filters_and_pages(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let mut ids = Vec::new();
    for _ in 0..5 {
        ids.push(app.create_test_approval().await);
    }
    app.post_json(
        &format!("/api/approvals/{}/approve", ids[0]),
        &json!({"approved": false}),
    )
    .await;
    let (status, page) = app
        .get_json("/api/approvals?status=Pending&page=1&pageSize=2")
        .await;
    assert_eq!(status, 200, "{page}");
    assert_eq!(
        (
            page["total"].as_u64(),
            page["page"].as_u64(),
            page["pageSize"].as_u64()
        ),
        (Some(4), Some(1), Some(2))
    );
    assert_eq!(page["items"].as_array().unwrap().len(), 2);
    assert_eq!(page["items"][0]["id"], ids[4].as_str(), "newest first");
    let (_, page3) = app
        .get_json("/api/approvals?status=pending&page=2&pageSize=3")
        .await;
    assert_eq!(page3["items"].as_array().unwrap().len(), 1);
    let (_, rejected) = app.get_json("/api/approvals?status=Rejected").await;
    assert_eq!(rejected["items"][0]["id"], ids[0].as_str());
    let (_, by_session) = app
        .get_json("/api/approvals?sessionId=test-session&kind=Test")
        .await;
    assert_eq!(by_session["total"], 5);
    app.shutdown().await;
}

async fn bad_input_gets_a_clear_4xx_and_changes_nothing(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let id = app.create_test_approval().await;
    let decide = format!("/api/approvals/{id}/approve");

    let cases: Vec<(u16, &str, (u16, Value))> = vec![
        (
            400,
            "invalid_json",
            app.post_raw(&decide, "application/json", "{\"approved\": tru")
                .await,
        ),
        (
            400,
            "invalid_body",
            app.post_json(&decide, &json!({"approved": "yes"})).await,
        ),
        (
            400,
            "invalid_body",
            app.post_json(&decide, &json!({"reason": "missing approved"}))
                .await,
        ),
        (
            400,
            "invalid_body",
            app.post_json(&decide, &json!({"approved": true, "aproved": true}))
                .await,
        ),
        (
            400,
            "validation_failed",
            app.post_json(&decide, &json!({"approved": true, "scope": "forever"}))
                .await,
        ),
        (
            400,
            "validation_failed",
            app.post_json(&decide, &json!({"approved": true, "updatedInput": [1]}))
                .await,
        ),
        (
            400,
            "validation_failed",
            app.post_json(
                &decide,
                &json!({"approved": true, "reason": "x".repeat(2001)}),
            )
            .await,
        ),
        (
            413,
            "payload_too_large",
            app.post_raw(
                &decide,
                "application/json",
                format!("{{\"reason\":\"{}\"}}", "a".repeat(2 * 1024 * 1024)),
            )
            .await,
        ),
        (
            400,
            "validation_failed",
            app.post_json(
                "/api/approvals/not-a-uuid/approve",
                &json!({"approved": true}),
            )
            .await,
        ),
        (
            404,
            "approval_not_found",
            app.post_json(
                &format!("/api/approvals/{}/approve", uuid::Uuid::new_v4()),
                &json!({"approved": true}),
            )
            .await,
        ),
        (
            404,
            "approval_not_found",
            app.get_json(&format!("/api/approvals/{}", uuid::Uuid::new_v4()))
                .await,
        ),
        (
            400,
            "validation_failed",
            app.get_json("/api/approvals?status=Sleeping").await,
        ),
        (
            400,
            "validation_failed",
            app.get_json("/api/approvals?pageSize=5000").await,
        ),
        (
            400,
            "validation_failed",
            app.get_json("/api/approvals?page=0").await,
        ),
        (
            400,
            "invalid_query",
            app.get_json("/api/approvals?page=-1").await,
        ),
        (
            400,
            "validation_failed",
            app.post_json("/api/approvals/test", &json!({"toolName": "   "}))
                .await,
        ),
        (
            400,
            "validation_failed",
            app.post_json("/api/approvals/test", &json!({"toolName": "x".repeat(201)}))
                .await,
        ),
        (
            400,
            "invalid_body",
            app.post_json("/api/approvals/test", &json!({"toolName": 42}))
                .await,
        ),
        (
            400,
            "invalid_json",
            app.post_raw("/api/approvals/test", "application/json", "")
                .await,
        ),
        (
            404,
            "route_not_found",
            app.get_json("/api/nothing-here").await,
        ),
        (
            405,
            "method_not_allowed",
            app.delete_json("/api/approvals").await,
        ),
        (
            404,
            "session_not_found",
            app.get_json(&format!("/api/sessions/{}", uuid::Uuid::new_v4()))
                .await,
        ),
        (
            400,
            "validation_failed",
            app.get_json("/api/sessions/123").await,
        ),
        (
            400,
            "validation_failed",
            app.get_json("/api/sessions?status=Running").await,
        ),
    ];
    for (i, (want_status, want_code, (status, body))) in cases.into_iter().enumerate() {
        assert_eq!(status, want_status, "case {i}: {body}");
        assert_eq!(body["code"], want_code, "case {i}: {body}");
        assert!(
            body["message"].as_str().is_some_and(|m| !m.is_empty()),
            "case {i}: {body}"
        );
    }

    // Nothing was half-written: the approval is still Pending and the only one.
    let (_, got) = app.get_json(&format!("/api/approvals/{id}")).await;
    assert_eq!(got["status"], "Pending");
    let (_, all) = app.get_json("/api/approvals").await;
    assert_eq!(all["total"], 1);
    // And the server still serves.
    assert_eq!(app.get_json("/health").await.0, 200);
    app.shutdown().await;
}

async fn the_openapi_document_describes_every_route(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    let res = app
        .client
        .get(app.url("/swagger/index.html"))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 200);
    assert!(res.text().await.unwrap().contains("<html"));
    let (status, doc) = app.get_json("/swagger/v1/swagger.json").await;
    assert_eq!(status, 200);
    let paths = doc["paths"].as_object().unwrap();
    for (path, method) in [
        ("/health", "get"),
        ("/health/live", "get"),
        ("/metrics", "get"),
        ("/api/diagnostics/database", "get"),
        ("/api/diagnostics/circuit-breaker", "get"),
        ("/api/diagnostics/metrics", "get"),
        ("/api/diagnostics/telegram/status", "get"),
        ("/api/approvals", "get"),
        ("/api/approvals/test", "post"),
        ("/api/approvals/test", "delete"),
        ("/api/approvals/{approvalId}", "get"),
        ("/api/approvals/{approvalId}/approve", "post"),
        ("/api/approvals/{approvalId}/cancel", "post"),
        ("/api/sessions", "get"),
        ("/api/sessions/{sessionId}", "get"),
    ] {
        assert!(
            paths.get(path).and_then(|p| p.get(method)).is_some(),
            "{method} {path} missing from the OpenAPI document"
        );
    }
    app.shutdown().await;
}

async fn metrics_expose_the_contract_names(backend: Backend) {
    let app = TestApp::spawn(backend).await;
    app.create_test_approval().await;
    app.get_json("/api/nothing").await;
    let text = app.metrics_text().await;
    for name in [
        "escalation_queue_size",
        "escalation_queue_enqueue_total",
        "escalation_queue_dequeue_total",
        "escalation_approvals_accepted_total",
        "escalation_approvals_rejected_total",
        "escalation_approvals_timeout_total",
        "escalation_response_time_seconds",
        "telegram_api_requests_total",
        "telegram_api_failures_total",
        "telegram_api_retry_attempts_total",
        "telegram_api_duration_seconds",
        "approval_timeout_service_health",
        "telegram_service_health",
        "circuit_breaker_state",
        "http_requests_total",
        "http_request_duration_seconds_bucket",
        "process_resident_memory_bytes",
    ] {
        assert!(
            text.contains(&format!("\n{name}")) || text.starts_with(name),
            "{name} missing"
        );
    }
    assert!(
        text.contains(
            r#"http_requests_total{method="POST",route="/api/approvals/test",status="201"}"#
        ),
        "{text}"
    );
    assert!(
        text.contains(r#"route="unmatched",status="404""#),
        "unknown routes share one label"
    );
    assert!(text.lines().filter(|l| l.starts_with('#')).count() > 50);
    app.shutdown().await;
}

both_backends!(
    health_and_readiness_answer_200_with_the_database_check,
    database_diagnostics_report_backend_pool_and_migrations,
    the_smoke_test_approval_is_created_listed_and_cancelled,
    a_manual_decision_is_recorded_once,
    concurrent_decisions_over_http_have_one_winner,
    listing_filters_and_pages,
    bad_input_gets_a_clear_4xx_and_changes_nothing,
    the_openapi_document_describes_every_route,
    metrics_expose_the_contract_names,
);

/// When PostgreSQL goes away, health and readiness say so with 503 and the check that
/// failed, and the process keeps serving.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn health_is_503_when_the_database_is_down() {
    let app = TestApp::spawn(Backend::Postgres).await;
    assert_eq!(app.get_json("/health").await.0, 200);
    let orchestra_tests::app::TestStore::Postgres(db) = &app.store else {
        unreachable!()
    };
    db.drop_now();
    for path in ["/health", "/health/ready"] {
        let (status, body) = app.get_json(path).await;
        assert_eq!(status, 503, "{path}: {body}");
        assert_eq!(body["status"], "Unhealthy");
        assert_eq!(body["checks"][0]["status"], "Unhealthy");
    }
    let (status, body) = app.get_json("/api/diagnostics/database").await;
    assert_eq!(
        (status, body["Status"].as_str()),
        (503, Some("Disconnected"))
    );
    let (status, body) = app.get_json("/api/approvals").await;
    assert_eq!(
        (status, body["code"].as_str()),
        (503, Some("database_unavailable"))
    );
    assert_eq!(
        app.get_json("/health/live").await.0,
        200,
        "liveness does not depend on the database"
    );
    app.shutdown().await;
}
