//! Forwarding to the node that runs a session (docs/adr/0004-several-nodes.md): behind one
//! load balancer a request for a session may reach a node that does not run it. That node
//! answers 409 `session_owned_elsewhere`; when the owner's `node.advertise_url` is known,
//! this middleware sends the request on to the owner (same method, path, query, headers and
//! body, the client's key included: every node checks it) and returns the owner's answer,
//! streamed (an SSE stream too). A forwarded request carries [`FORWARDED_BY`] and is never
//! forwarded again; when the owner cannot be reached the 409 goes back to the client.

use std::sync::OnceLock;
use std::time::Duration;

use actix_web::body::{BoxBody, MessageBody};
use actix_web::dev::{ServiceRequest, ServiceResponse};
use actix_web::http::header::{self, HeaderName};
use actix_web::middleware::Next;
use actix_web::{HttpMessage, HttpResponse, web};
use futures_util::StreamExt;

/// Marks a request one node forwarded to another.
pub const FORWARDED_BY: &str = "x-orchestra-forwarded";

/// A request body forwarded at most this large (a prompt is at most 100,000 characters).
const MAX_FORWARDED_BODY: usize = 8 * 1024 * 1024;

/// Where a 409 `session_owned_elsewhere` says the session runs (a response extension).
#[derive(Debug, Clone)]
pub struct ForwardTo(pub String);

fn client() -> &'static reqwest::Client {
    static CLIENT: OnceLock<reqwest::Client> = OnceLock::new();
    CLIENT.get_or_init(|| {
        reqwest::Client::builder()
            .connect_timeout(Duration::from_secs(5))
            .build()
            .unwrap_or_default()
    })
}

/// Headers not passed on (hop by hop, or recomputed); `Origin` neither: this node checked it against its own
/// `Host` (the console's same-origin rule), which the owner, reached at another host, cannot.
fn passes(name: &HeaderName) -> bool {
    !matches!(
        name.as_str(),
        "host"
            | "origin"
            | "connection"
            | "content-length"
            | "transfer-encoding"
            | "keep-alive"
            | "upgrade"
            | "te"
            | "trailer"
            | "proxy-connection"
    )
}

/// The middleware, on every route; only `/api/sessions/{id}/...` requests are considered.
///
/// # Errors
/// What the inner service returns.
pub async fn to_owner(
    mut req: ServiceRequest,
    next: Next<impl MessageBody + 'static>,
) -> Result<ServiceResponse<BoxBody>, actix_web::Error> {
    let eligible = req
        .path()
        .strip_prefix("/api/sessions/")
        .is_some_and(|rest| rest.contains('/'))
        && !req.headers().contains_key(FORWARDED_BY);
    if !eligible {
        return Ok(next.call(req).await?.map_into_boxed_body());
    }
    // The body is read once and kept, to send it on if this node does not run the session.
    let mut payload = req.take_payload();
    let mut body = web::BytesMut::new();
    while let Some(chunk) = payload.next().await {
        let chunk = chunk?;
        if body.len() + chunk.len() > MAX_FORWARDED_BODY {
            return Err(actix_web::error::ErrorPayloadTooLarge(
                "the body is too large",
            ));
        }
        body.extend_from_slice(&chunk);
    }
    let body = body.freeze();
    req.set_payload(actix_web::dev::Payload::from(body.clone()));
    let method = req.method().clone();
    let path = req
        .uri()
        .path_and_query()
        .map_or_else(|| req.path().to_owned(), ToString::to_string);
    let headers = req.headers().clone();
    let res = next.call(req).await?;
    let Some(ForwardTo(owner)) = res.response().extensions().get::<ForwardTo>().cloned() else {
        return Ok(res.map_into_boxed_body());
    };
    let mut out = client().request(
        reqwest::Method::from_bytes(method.as_str().as_bytes()).unwrap_or(reqwest::Method::GET),
        format!("{owner}{path}"),
    );
    for (name, value) in headers.iter().filter(|(n, _)| passes(n)) {
        out = out.header(name.as_str(), value.as_bytes());
    }
    let sent = out.header(FORWARDED_BY, "1").body(body).send().await;
    match sent {
        Ok(answer) => {
            metrics::counter!(orchestra_application::metrics_names::NODE_REQUESTS_FORWARDED_TOTAL, "outcome" => "forwarded").increment(1);
            let mut reply = HttpResponse::build(
                actix_web::http::StatusCode::from_u16(answer.status().as_u16())
                    .unwrap_or(actix_web::http::StatusCode::BAD_GATEWAY),
            );
            for (name, value) in answer.headers() {
                if let (Ok(n), Ok(v)) = (
                    HeaderName::from_bytes(name.as_str().as_bytes()),
                    header::HeaderValue::from_bytes(value.as_bytes()),
                ) && passes(&n)
                {
                    reply.append_header((n, v));
                }
            }
            let stream = answer
                .bytes_stream()
                .map(|chunk| chunk.map_err(actix_web::error::ErrorBadGateway));
            let (http_req, _) = res.into_parts();
            Ok(ServiceResponse::new(http_req, reply.streaming(stream)))
        }
        Err(err) => {
            metrics::counter!(orchestra_application::metrics_names::NODE_REQUESTS_FORWARDED_TOTAL, "outcome" => "unreachable").increment(1);
            tracing::warn!(owner = %owner, error = %err, "could not forward the request to the node that runs the session; answering 409");
            Ok(res.map_into_boxed_body())
        }
    }
}
