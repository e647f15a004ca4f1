//! Who may call what: the route table (every `/api` route and the role it needs), the
//! middleware that authenticates the bearer key and enforces the table, and the [`Caller`]
//! extractor that hands the principal to handlers.

use actix_web::body::{EitherBody, MessageBody};
use actix_web::dev::{Payload, ServiceRequest, ServiceResponse};
use actix_web::http::{Method, StatusCode, header};
use actix_web::middleware::Next;
use actix_web::{FromRequest, HttpMessage, HttpRequest, ResponseError, web};
use orchestra_application::keys::{AuthError, Authenticator};
use orchestra_domain::{Principal, Role};

use crate::error::{ApiError, ErrorCode};
use crate::state::AppState;

/// What a route needs.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Access {
    /// A key with this role (or one that grants it).
    Role(Role),
    /// The Telegram webhook: authenticated by Telegram's secret token, in the handler.
    TelegramSecret,
}

/// Every `/api` route: method, pattern, what it needs. Routes outside `/api` (`/health*`,
/// `/metrics`, `/swagger`) are open; `/console` pages check the console cookie themselves
/// and hold no data (the page reads it from `/api`). An `/api` route missing here needs `admin` (fail closed).
pub const ROUTES: &[(&str, &str, Access)] = &[
    ("GET", "/api/agents", Access::Role(Role::Viewer)),
    ("GET", "/api/policy", Access::Role(Role::Viewer)),
    (
        "GET",
        "/api/sessions/{sessionId}/grants",
        Access::Role(Role::Viewer),
    ),
    (
        "DELETE",
        "/api/sessions/{sessionId}/grants/{grantId}",
        Access::Role(Role::Approver),
    ),
    ("POST", "/api/policy/evaluate", Access::Role(Role::Operator)),
    ("GET", "/api/audit", Access::Role(Role::Admin)),
    ("GET", "/api/me", Access::Role(Role::Viewer)),
    ("GET", "/api/approvals", Access::Role(Role::Viewer)),
    ("GET", "/api/approvals/events", Access::Role(Role::Viewer)),
    ("POST", "/api/approvals/test", Access::Role(Role::Operator)),
    (
        "DELETE",
        "/api/approvals/test",
        Access::Role(Role::Operator),
    ),
    (
        "GET",
        "/api/approvals/{approvalId}",
        Access::Role(Role::Viewer),
    ),
    (
        "GET",
        "/api/approvals/{approvalId}/file",
        Access::Role(Role::Viewer),
    ),
    (
        "POST",
        "/api/approvals/{approvalId}/approve",
        Access::Role(Role::Approver),
    ),
    (
        "POST",
        "/api/approvals/{approvalId}/cancel",
        Access::Role(Role::Approver),
    ),
    (
        "GET",
        "/api/diagnostics/database",
        Access::Role(Role::Viewer),
    ),
    (
        "GET",
        "/api/diagnostics/circuit-breaker",
        Access::Role(Role::Viewer),
    ),
    (
        "GET",
        "/api/diagnostics/metrics",
        Access::Role(Role::Viewer),
    ),
    (
        "GET",
        "/api/diagnostics/telegram/status",
        Access::Role(Role::Viewer),
    ),
    ("GET", "/api/sessions", Access::Role(Role::Viewer)),
    ("POST", "/api/sessions", Access::Role(Role::Operator)),
    (
        "GET",
        "/api/sessions/{sessionId}",
        Access::Role(Role::Viewer),
    ),
    (
        "DELETE",
        "/api/sessions/{sessionId}",
        Access::Role(Role::Operator),
    ),
    (
        "POST",
        "/api/sessions/{sessionId}/messages",
        Access::Role(Role::Operator),
    ),
    (
        "GET",
        "/api/sessions/{sessionId}/turns",
        Access::Role(Role::Viewer),
    ),
    (
        "GET",
        "/api/sessions/{sessionId}/turns/{turnId}",
        Access::Role(Role::Viewer),
    ),
    (
        "GET",
        "/api/sessions/{sessionId}/events",
        Access::Role(Role::Viewer),
    ),
    (
        "POST",
        "/api/sessions/{sessionId}/interrupt",
        Access::Role(Role::Operator),
    ),
    (
        "POST",
        "/api/sessions/{sessionId}/pause",
        Access::Role(Role::Operator),
    ),
    (
        "POST",
        "/api/sessions/{sessionId}/resume",
        Access::Role(Role::Operator),
    ),
    ("POST", "/api/telegram/webhook", Access::TelegramSecret),
];

/// What `method` on `pattern` needs; `None` for routes outside `/api`.
pub fn access(method: &Method, pattern: &str) -> Option<Access> {
    if !pattern.starts_with("/api/") && pattern != "/api" {
        return None;
    }
    let method = if method == Method::HEAD {
        "GET"
    } else {
        method.as_str()
    };
    Some(
        ROUTES
            .iter()
            .find(|(m, p, _)| *m == method && *p == pattern)
            .map_or(Access::Role(Role::Admin), |(_, _, a)| *a),
    )
}

/// How requests are authenticated.
#[derive(Debug, Clone)]
pub enum AuthMode {
    /// Bearer API keys.
    Keys(Authenticator),
    /// Everyone is an anonymous admin (Development on loopback, opted into).
    InsecureDisabled,
}

fn unauthenticated(message: &str, invalid: bool) -> ApiError {
    let challenge = if invalid {
        r#"Bearer realm="orchestra", error="invalid_token""#
    } else {
        r#"Bearer realm="orchestra""#
    };
    ApiError::new(
        StatusCode::UNAUTHORIZED,
        ErrorCode::Unauthenticated,
        message,
    )
    .with_challenge(challenge)
}

/// The bearer token of `req`, if it has one.
fn bearer(req: &ServiceRequest) -> Option<String> {
    let value = req.headers().get(header::AUTHORIZATION)?.to_str().ok()?;
    let (scheme, token) = value.trim().split_once(' ')?;
    scheme
        .eq_ignore_ascii_case("bearer")
        .then(|| token.trim().to_owned())
}

/// The key `token` authenticates as, under `mode`.
///
/// # Errors
/// 401 for a missing or invalid key; 503 when the key store cannot be read.
pub async fn authenticate(mode: &AuthMode, token: Option<&str>) -> Result<Principal, ApiError> {
    let authenticator = match mode {
        AuthMode::InsecureDisabled => return Ok(Principal::named("anonymous", Role::Admin)),
        AuthMode::Keys(a) => a,
    };
    let Some(token) = token else {
        return Err(unauthenticated(
            "an API key is required: send `Authorization: Bearer <key>`, or sign in at /console/login",
            false,
        ));
    };
    authenticator
        .authenticate(token)
        .await
        .map_err(|e| match e {
            AuthError::Missing => unauthenticated(&e.to_string(), false),
            AuthError::Invalid => {
                unauthenticated("the API key is not valid (unknown or revoked)", true)
            }
            AuthError::Unavailable(source) => {
                ApiError::from(orchestra_application::AppError::from(source))
            }
        })
}

/// The CSRF token of a console request, as the page got it from `GET /api/me`; set by
/// [`authorize`] on requests authenticated by the console cookie.
#[derive(Debug, Clone)]
pub struct ConsoleCsrf(pub String);

/// Whether the browser's `Origin` is this server itself (its `Host` header): the console's
/// own requests. The `Host` header, not `X-Forwarded-Host`, which a client could set.
fn same_origin(req: &ServiceRequest, origin: &str) -> bool {
    let Some(host) = req
        .headers()
        .get(header::HOST)
        .and_then(|h| h.to_str().ok())
    else {
        return false;
    };
    origin
        .strip_prefix("https://")
        .or_else(|| origin.strip_prefix("http://"))
        .is_some_and(|o| o.eq_ignore_ascii_case(host))
}

fn changes_something(method: &Method) -> bool {
    !matches!(*method, Method::GET | Method::HEAD | Method::OPTIONS)
}

/// `from_fn(authorize)`: authenticates `/api` requests and enforces [`ROUTES`]; the
/// principal goes into the request's extensions for [`Caller`].
///
/// # Errors
/// Only what the inner service returns.
pub async fn authorize(
    req: ServiceRequest,
    next: Next<impl MessageBody>,
) -> Result<ServiceResponse<EitherBody<impl MessageBody>>, actix_web::Error> {
    let needed = req
        .match_pattern()
        .and_then(|pattern| access(req.method(), &pattern));
    let Some(Access::Role(role)) = needed else {
        return next
            .call(req)
            .await
            .map(ServiceResponse::map_into_left_body);
    };
    let Some(state) = req.app_data::<web::Data<AppState>>().cloned() else {
        return Ok(refuse(
            req,
            &ApiError::internal(&"the application state is missing"),
        ));
    };
    if let Some(origin) = req.headers().get(header::ORIGIN) {
        // A browser says where a request comes from: the console's own pages, and origins
        // the operator lists, may call the API from a browser.
        let origin = origin.to_str().unwrap_or_default();
        if !same_origin(&req, origin) && !state.allowed_origins.iter().any(|o| o == origin) {
            let err = ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::OriginNotAllowed,
                format!(
                    "requests from the web origin `{}` are refused (server.allowed_origins)",
                    origin.chars().take(100).collect::<String>()
                ),
            );
            return Ok(refuse(req, &err));
        }
    }
    let mode = state.auth.clone();
    // A bearer key first; else the console's cookie, which needs the page's CSRF token on
    // anything that changes something (a cookie is sent by the browser on its own).
    let (token, csrf) = match bearer(&req) {
        Some(t) => (Some(t), None),
        None => match crate::console::cookie::console_key(req.headers()) {
            Some(key) => {
                let csrf = orchestra_application::keys::console_csrf_token(&key);
                (Some(key), Some(csrf))
            }
            None => (None, None),
        },
    };
    if let (Some(expected), AuthMode::Keys(_)) = (&csrf, &mode)
        && changes_something(req.method())
    {
        let sent = req
            .headers()
            .get(crate::console::CSRF_HEADER)
            .and_then(|h| h.to_str().ok())
            .unwrap_or_default();
        if !bool::from(subtle::ConstantTimeEq::ct_eq(
            sent.as_bytes(),
            expected.as_bytes(),
        )) {
            metrics::counter!(crate::console::CSRF_REFUSALS_TOTAL).increment(1);
            let err = ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::CsrfFailed,
                "a console request that changes something needs the page's `X-CSRF-Token` header (reload the console)",
            );
            return Ok(refuse(req, &err));
        }
    }
    match authenticate(&mode, token.as_deref()).await {
        Err(err) => Ok(refuse(req, &err)),
        Ok(who) if !who.may(role) => {
            let err = ApiError::new(
                StatusCode::FORBIDDEN,
                ErrorCode::Forbidden,
                format!(
                    "this needs the `{role}` role; the key `{}` has `{}`",
                    who.name(),
                    who.role()
                ),
            );
            Ok(refuse(req, &err))
        }
        Ok(who) => {
            req.extensions_mut().insert(who);
            if let Some(csrf) = csrf {
                req.extensions_mut().insert(ConsoleCsrf(csrf));
            }
            next.call(req)
                .await
                .map(ServiceResponse::map_into_left_body)
        }
    }
}

fn refuse<B>(req: ServiceRequest, err: &ApiError) -> ServiceResponse<EitherBody<B>> {
    req.into_response(err.error_response())
        .map_into_right_body()
}

/// The principal a request acts as (set by [`authorize`]).
#[derive(Debug, Clone)]
pub struct Caller(pub Principal);

impl FromRequest for Caller {
    type Error = ApiError;
    type Future = std::future::Ready<Result<Self, Self::Error>>;

    fn from_request(req: &HttpRequest, _: &mut Payload) -> Self::Future {
        std::future::ready(
            req.extensions()
                .get::<Principal>()
                .cloned()
                .map(Caller)
                .ok_or_else(|| {
                    ApiError::internal(
                        &"a handler that needs a caller runs on a route without authorization",
                    )
                }),
        )
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn api_routes_missing_from_the_table_need_admin_and_others_are_open() {
        assert_eq!(
            access(&Method::PUT, "/api/sessions"),
            Some(Access::Role(Role::Admin))
        );
        assert_eq!(
            access(&Method::GET, "/api/new-thing"),
            Some(Access::Role(Role::Admin))
        );
        assert_eq!(access(&Method::GET, "/health"), None);
        assert_eq!(access(&Method::GET, "/metrics"), None);
        assert_eq!(
            access(&Method::HEAD, "/api/sessions"),
            Some(Access::Role(Role::Viewer))
        );
        assert_eq!(
            access(&Method::POST, "/api/approvals/{approvalId}/approve"),
            Some(Access::Role(Role::Approver))
        );
    }
}
