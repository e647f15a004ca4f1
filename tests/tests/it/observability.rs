//! OTLP span export from the real binary to a local receiver, flushed on SIGTERM.

use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use orchestra_tests::binary::ServerProcess;
use orchestra_tests::free_port;
use orchestra_tests::otlp::{Collector, attr};

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn request_spans_reach_an_otlp_receiver_with_route_status_and_latency() {
    let collector = Collector::start();
    let dir = tempfile::tempdir().unwrap();
    let port = free_port();
    let endpoint = collector.endpoint.clone();
    let port_s = port.to_string();
    let server = ServerProcess::start(
        dir.path(),
        port,
        &[
            ("ORCHESTRA__SERVER__PORT", &port_s),
            ("OTEL_EXPORTER_OTLP_ENDPOINT", &endpoint),
            ("OTEL_SERVICE_NAME", "orchestra-otlp-test"),
        ],
    )
    .await;
    let client = orchestra_tests::auth::client_with_key(orchestra_tests::auth::TEST_ADMIN_KEY);
    let res = client
        .post(format!("http://127.0.0.1:{port}/api/approvals/test"))
        .json(&serde_json::json!({"toolName": "TestTool", "sessionId": "otlp"}))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 201);
    let res = client
        .get(format!(
            "http://127.0.0.1:{port}/api/approvals/{}",
            uuid::Uuid::new_v4()
        ))
        .send()
        .await
        .unwrap();
    assert_eq!(res.status().as_u16(), 404);

    // The batch exporter holds spans; SIGTERM must flush them before exit.
    assert_eq!(server.terminate().await, Some(0));
    collector.stop().await;
    let spans = collector.spans("orchestra-otlp-test");
    let created = spans
        .iter()
        .find(|s| s.name == "POST /api/approvals/test")
        .unwrap_or_else(|| {
            panic!(
                "no span for the POST; got {:?}",
                spans.iter().map(|s| &s.name).collect::<Vec<_>>()
            )
        });
    assert_eq!(
        attr(created, "http.route"),
        Some(AnyValue::StringValue("/api/approvals/test".into()))
    );
    assert_eq!(
        attr(created, "http.response.status_code"),
        Some(AnyValue::IntValue(201))
    );
    assert!(matches!(attr(created, "latency_ms"), Some(AnyValue::DoubleValue(ms)) if ms > 0.0));
    assert!(created.end_time_unix_nano > created.start_time_unix_nano);
    let missing = spans
        .iter()
        .find(|s| s.name == "GET /api/approvals/{approvalId}")
        .expect("span for the 404");
    assert_eq!(
        attr(missing, "http.response.status_code"),
        Some(AnyValue::IntValue(404))
    );
}

/// `server.ops_port`: `/metrics` and `/health*` on a second listener, and `/metrics` off
/// the main one; nothing else there.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_operations_listener_serves_metrics_and_health_only() {
    let dir = tempfile::tempdir().unwrap();
    let (port, ops) = (free_port(), free_port());
    let server = ServerProcess::start(
        dir.path(),
        port,
        &[
            ("ORCHESTRA__SERVER__PORT", &port.to_string()),
            ("ORCHESTRA__SERVER__OPS_PORT", &ops.to_string()),
        ],
    )
    .await;
    let client = reqwest::Client::new();
    let status = |url: String| {
        let client = client.clone();
        async move { client.get(url).send().await.unwrap().status().as_u16() }
    };
    let metrics = client
        .get(format!("http://127.0.0.1:{ops}/metrics"))
        .send()
        .await
        .unwrap()
        .text()
        .await
        .unwrap();
    assert!(
        metrics.contains("# TYPE http_requests_total counter"),
        "{metrics}"
    );
    assert_eq!(status(format!("http://127.0.0.1:{ops}/health")).await, 200);
    assert_eq!(
        status(format!("http://127.0.0.1:{ops}/health/ready")).await,
        200
    );
    assert_eq!(
        status(format!("http://127.0.0.1:{ops}/api/sessions")).await,
        404,
        "no API there"
    );
    assert_eq!(
        status(format!("http://127.0.0.1:{port}/metrics")).await,
        404,
        "moved off the main listener"
    );
    assert_eq!(status(format!("http://127.0.0.1:{port}/health")).await, 200);
    assert!(
        server.log_text().contains(&format!(
            "operations listener (/metrics, /health) on http://127.0.0.1:{ops}"
        )),
        "{}",
        server.log_text()
    );
    assert_eq!(server.terminate().await, Some(0));
}
