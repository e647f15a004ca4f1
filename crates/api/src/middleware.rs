//! Request telemetry: one tracing span per request (exported over OTLP when configured)
//! with method, route, status and latency, and the HTTP metrics of the contract.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::middleware::Next;
use orchestra_application::metrics_names as m;
use tracing::Instrument;

/// The route label for requests that matched no route (keeps label cardinality bounded).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// `actix_web::middleware::from_fn(observe)`: spans, metrics and a log line per request.
///
/// # Errors
/// Only what the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let method = req.method().as_str().to_owned();
    let route = req
        .match_pattern()
        .unwrap_or_else(|| UNMATCHED_ROUTE.to_owned());
    let span = tracing::info_span!(
        "http.request",
        otel.name = %format!("{method} {route}"),
        otel.kind = "server",
        http.request.method = %method,
        http.route = %route,
        url.path = %req.path(),
        http.response.status_code = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    metrics::gauge!(m::HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
    let result = next.call(req).instrument(span.clone()).await;
    metrics::gauge!(m::HTTP_REQUESTS_IN_FLIGHT).decrement(1.0);

    let status = match &result {
        Ok(res) => res.status().as_u16(),
        Err(err) => err.as_response_error().status_code().as_u16(),
    };
    let elapsed = started.elapsed();
    span.record("http.response.status_code", i64::from(status));
    span.record("latency_ms", elapsed.as_secs_f64() * 1000.0);
    if status >= 500 {
        span.record("otel.status_code", "ERROR");
    }
    let status_label = status.to_string();
    metrics::counter!(m::HTTP_REQUESTS_TOTAL, "method" => method.clone(), "route" => route.clone(), "status" => status_label.clone())
        .increment(1);
    metrics::histogram!(m::HTTP_REQUEST_DURATION_SECONDS, "method" => method.clone(), "route" => route.clone(), "status" => status_label)
        .record(elapsed.as_secs_f64());
    span.in_scope(|| {
        if status >= 500 {
            tracing::warn!(
                http.status = status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request failed"
            );
        } else {
            tracing::debug!(
                http.status = status,
                latency_ms = elapsed.as_secs_f64() * 1000.0,
                "request finished"
            );
        }
    });
    result
}
