//! Request telemetry: one tracing span per request (exported over OTLP when configured)
//! with method, route, status and latency, and the HTTP metrics of the contract.

use std::time::Instant;

use actix_web::body::MessageBody;
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{HeaderName, HeaderValue};
use actix_web::middleware::Next;
use orchestra_application::audit::RequestContext;
use orchestra_application::metrics_names as m;
use tracing::Instrument;

/// The route label for requests that matched no route (keeps label cardinality bounded).
pub const UNMATCHED_ROUTE: &str = "unmatched";

/// The request id header: taken from the client when it is a sane token, else made here;
/// always echoed in the response, and recorded on the span and on audit events.
pub const REQUEST_ID_HEADER: HeaderName = HeaderName::from_static("x-request-id");

/// A client's request id is kept when it is 1 to 64 characters of `[A-Za-z0-9._:-]`.
fn client_request_id(req: &ServiceRequest) -> Option<String> {
    let v = req.headers().get(&REQUEST_ID_HEADER)?.to_str().ok()?;
    let sane = !v.is_empty()
        && v.len() <= 64
        && v.bytes()
            .all(|b| b.is_ascii_alphanumeric() || matches!(b, b'.' | b'_' | b':' | b'-'));
    sane.then(|| v.to_owned())
}

fn header<'a>(req: &'a ServiceRequest, name: &str) -> Option<&'a str> {
    req.headers().get(name)?.to_str().ok()
}

/// `actix_web::middleware::from_fn(observe)`: spans, metrics, a log line and a request id
/// per request.
///
/// # Errors
/// Only what the inner service returns.
pub async fn observe(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<impl MessageBody>, actix_web::Error> {
    let started = Instant::now();
    let request_id = client_request_id(&req).unwrap_or_else(|| uuid::Uuid::new_v4().to_string());
    let origin = RequestContext {
        request_id: Some(request_id.clone()),
        client_addr: req.peer_addr().map(|a| a.to_string()),
    };
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
        request.id = %request_id,
        http.response.status_code = tracing::field::Empty,
        latency_ms = tracing::field::Empty,
        otel.status_code = tracing::field::Empty,
    );
    // A caller's W3C trace context: this request's span (and all it starts) joins its trace.
    if let (Some(state), Some(parent)) = (
        req.app_data::<actix_web::web::Data<crate::AppState>>(),
        header(&req, "traceparent"),
    ) {
        state
            .trace
            .adopt_remote_parent(&span, parent, header(&req, "tracestate"));
    }
    metrics::gauge!(m::HTTP_REQUESTS_IN_FLIGHT).increment(1.0);
    let mut result = origin.scope(next.call(req).instrument(span.clone())).await;
    if let (Ok(res), Ok(value)) = (&mut result, HeaderValue::from_str(&request_id)) {
        res.headers_mut().insert(REQUEST_ID_HEADER, value);
    }
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
