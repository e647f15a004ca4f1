//! Orchestra's HTTP API on actix-web: routes, DTOs, the one error mapping, request
//! telemetry, and the OpenAPI document behind the offline Swagger UI.
//!
//! **Architecture Invariant:** only this crate knows HTTP and JSON. It depends on the
//! application crate (handlers and ports), never on infrastructure; the server crate builds
//! an [`AppState`] out of adapters and mounts [`configure`].
//!
//! **API Boundary:** request bodies are camelCase; diagnostics payloads are PascalCase
//! because the deployment guide's commands read them (`jq '.State'`); errors are
//! `{"code": "...", "message": "..."}` with a 4xx status for anything the caller got wrong.

pub mod approval_stream;
pub mod auth;
pub mod console;
pub mod dto;
pub mod error;
mod error_code;
pub mod events;
pub mod forward;
pub mod handlers;
pub mod json_body;
pub mod middleware;
pub mod openapi;
pub mod openapi_rules;
pub mod sse_limits;
mod state;

pub use error::{ApiError, ErrorCode};
pub use state::{AppState, ApprovalHandlers, PolicyInfo, ServiceInfo, SessionHandlers};

use actix_web::web;

/// The largest JSON body accepted, in bytes.
pub const MAX_JSON_BODY_BYTES: usize = 1024 * 1024;

/// Which routes a listener serves.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Routes {
    /// `/swagger` and the OpenAPI document.
    pub swagger: bool,
    /// `/metrics` (off on the main listener when a separate one serves it).
    pub metrics: bool,
}

/// Registers every route of the main listener: `/health*`, `/metrics` (unless
/// `routes.metrics` is off), `/api/*` and, with `routes.swagger`, `/swagger`.
pub fn configure(cfg: &mut web::ServiceConfig, routes: Routes) {
    cfg.app_data(error::json_config(MAX_JSON_BODY_BYTES))
        .app_data(error::query_config())
        .app_data(error::path_config())
        .configure(handlers::health::configure)
        .configure(handlers::diagnostics::configure)
        .configure(handlers::approvals::configure)
        .configure(handlers::sessions::configure)
        .configure(handlers::agents::configure)
        .configure(handlers::policy::configure)
        .configure(handlers::grants::configure)
        .configure(handlers::audit::configure)
        .configure(handlers::me::configure)
        .configure(console::configure)
        .configure(handlers::telegram::configure);
    if routes.metrics {
        cfg.configure(handlers::metrics::configure);
    }
    if routes.swagger {
        cfg.configure(openapi::configure);
    }
}

/// Registers the routes of the operations listener (`server.ops_port`): `/health*` and
/// `/metrics` only, no key needed (like on the main listener).
pub fn configure_ops(cfg: &mut web::ServiceConfig) {
    cfg.configure(handlers::health::configure)
        .configure(handlers::metrics::configure);
}

/// The answer for a route that does not exist.
///
/// # Errors
/// Always: a JSON 404.
pub async fn not_found(req: actix_web::HttpRequest) -> Result<actix_web::HttpResponse, ApiError> {
    Err(ApiError::route_not_found(req.method().as_str(), req.path()))
}
