//! `ApiError`: the only `ResponseError` in the service, and the one place where application
//! errors become HTTP statuses. A 5xx body is opaque; its cause is logged here, once.

use actix_web::error::{JsonPayloadError, PathError, QueryPayloadError};
use actix_web::http::StatusCode;
use actix_web::{HttpRequest, HttpResponse, ResponseError, web};
use orchestra_application::AppError;

pub use crate::error_code::ErrorCode;
use orchestra_domain::DecideApprovalError;
use serde::Serialize;
use utoipa::ToSchema;

/// The JSON body of every error.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct ErrorBody {
    /// Stable, snake_case, machine-readable code.
    pub code: String,
    /// What went wrong, for humans.
    pub message: String,
    /// The request field at fault, when one is.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub field: Option<String>,
    /// The node that runs the session (`session_owned_elsewhere` only): send the request
    /// there.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub owner: Option<Box<OwnerBody>>,
}

/// Which node runs a session.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct OwnerBody {
    /// The node's id.
    pub node_id: String,
    /// Where the node answers (`node.advertise_url`), when it said.
    #[serde(skip_serializing_if = "Option::is_none")]
    pub advertise_url: Option<String>,
    /// When its lease on the session runs out unless it renews it.
    pub lease_expires_at: chrono::DateTime<chrono::Utc>,
}

/// An error answer: status plus body.
#[derive(Debug, Clone, PartialEq, Eq, thiserror::Error)]
#[error("{status}: {} ({})", body.message, body.code)]
pub struct ApiError {
    status: StatusCode,
    body: ErrorBody,
    /// A `WWW-Authenticate` challenge (on a 401).
    challenge: Option<&'static str>,
}

impl ApiError {
    /// A new error answer.
    pub fn new(status: StatusCode, code: ErrorCode, message: impl Into<String>) -> Self {
        Self {
            status,
            body: ErrorBody {
                code: code.as_str().to_owned(),
                message: message.into(),
                field: None,
                owner: None,
            },
            challenge: None,
        }
    }

    /// Adds a `WWW-Authenticate` challenge (on a 401).
    #[must_use]
    pub fn with_challenge(mut self, challenge: &'static str) -> Self {
        self.challenge = Some(challenge);
        self
    }

    /// Names the field at fault.
    #[must_use]
    pub fn with_field(mut self, field: impl Into<String>) -> Self {
        self.body.field = Some(field.into());
        self
    }

    /// The status.
    pub fn status(&self) -> StatusCode {
        self.status
    }

    /// The body.
    pub fn body(&self) -> &ErrorBody {
        &self.body
    }

    /// 400 for a bad request field.
    pub fn bad_request(field: &str, message: impl Into<String>) -> Self {
        Self::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::ValidationFailed,
            message,
        )
        .with_field(field)
    }

    /// 404 for a route that does not exist.
    pub fn route_not_found(method: &str, path: &str) -> Self {
        let path: String = path.chars().take(200).collect();
        Self::new(
            StatusCode::NOT_FOUND,
            ErrorCode::RouteNotFound,
            format!("no route for {method} {path}"),
        )
    }

    /// 405 for a route that exists with other methods.
    pub fn method_not_allowed(method: &str, path: &str) -> Self {
        let path: String = path.chars().take(200).collect();
        Self::new(
            StatusCode::METHOD_NOT_ALLOWED,
            ErrorCode::MethodNotAllowed,
            format!("{method} is not allowed on {path}"),
        )
    }

    /// 500 with an opaque body; `cause` goes to the log only.
    pub fn internal(cause: &dyn std::fmt::Display) -> Self {
        tracing::error!(error = %cause, "internal error");
        Self::new(
            StatusCode::INTERNAL_SERVER_ERROR,
            ErrorCode::InternalError,
            "internal error; see the server log",
        )
    }
}

impl ResponseError for ApiError {
    fn status_code(&self) -> StatusCode {
        self.status
    }

    fn error_response(&self) -> HttpResponse {
        let mut res = HttpResponse::build(self.status);
        if let Some(challenge) = self.challenge {
            res.insert_header((actix_web::http::header::WWW_AUTHENTICATE, challenge));
        }
        let mut res = res.json(&self.body);
        if let Some(url) = self
            .body
            .owner
            .as_ref()
            .and_then(|o| o.advertise_url.clone())
        {
            // For the forwarding middleware (crate::forward).
            res.extensions_mut().insert(crate::forward::ForwardTo(url));
        }
        res
    }
}

/// The request's JSON (camelCase) name of an application field (`working_directory` ->
/// `workingDirectory`).
pub fn json_name(field: &str) -> String {
    let mut out = String::with_capacity(field.len());
    let mut upper = false;
    for c in field.chars() {
        if c == '_' {
            upper = true;
        } else if upper {
            out.extend(c.to_uppercase());
            upper = false;
        } else {
            out.push(c);
        }
    }
    out
}

impl From<AppError> for ApiError {
    fn from(err: AppError) -> Self {
        match err {
            AppError::Invalid(invalid) => {
                let field = json_name(&invalid.field);
                Self::new(
                    StatusCode::BAD_REQUEST,
                    ErrorCode::ValidationFailed,
                    format!("{field}: {}", invalid.message),
                )
                .with_field(field)
            }
            AppError::NotFound { what, id } => {
                let id: String = id.chars().take(100).collect();
                Self::new(
                    StatusCode::NOT_FOUND,
                    ErrorCode::not_found(what),
                    format!("{what} `{id}` was not found"),
                )
            }
            AppError::Decide(DecideApprovalError::AlreadyDecided { current }) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ApprovalAlreadyDecided,
                format!(
                    "the approval was already decided: it is {current}; the first decision stands"
                ),
            ),
            AppError::Decide(e @ DecideApprovalError::AlreadyVoted { .. }) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ApprovalAlreadyVoted,
                format!("{e}; it stays Pending until another approver decides"),
            ),
            AppError::Decide(e @ DecideApprovalError::PastDeadline { .. }) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::ApprovalExpired,
                e.to_string(),
            ),
            AppError::Transition(e) => Self::new(
                StatusCode::CONFLICT,
                ErrorCode::InvalidSessionState,
                e.to_string(),
            ),
            AppError::Conflict { kind, message } => {
                Self::new(StatusCode::CONFLICT, kind.into(), message)
            }
            AppError::OwnedElsewhere { ref owner, .. } => {
                let mut e = Self::new(
                    StatusCode::CONFLICT,
                    ErrorCode::SessionOwnedElsewhere,
                    err.to_string(),
                );
                e.body.owner = Some(Box::new(OwnerBody {
                    node_id: owner.node_id.clone(),
                    advertise_url: owner.advertise_url.clone(),
                    lease_expires_at: owner.expires_at,
                }));
                e
            }
            AppError::Overloaded { message } => Self::new(
                StatusCode::SERVICE_UNAVAILABLE,
                ErrorCode::AgentCapacityExhausted,
                message,
            ),
            AppError::Agent(e) => {
                // The cause (the CLI's stderr, its path) goes to the log, not to the client.
                tracing::warn!(error = %e, "agent runtime error");
                let (code, message) = match e {
                    orchestra_application::ports::RuntimeError::SpawnFailed(_)
                    | orchestra_application::ports::RuntimeError::StartTimeout(_)
                    | orchestra_application::ports::RuntimeError::Unavailable(_) => (
                        ErrorCode::AgentStartFailed,
                        "the agent could not be started; the server log has the cause",
                    ),
                    orchestra_application::ports::RuntimeError::Exited
                    | orchestra_application::ports::RuntimeError::Io(_) => (
                        ErrorCode::AgentUnavailable,
                        "the agent process went away; the server log has the cause",
                    ),
                };
                Self::new(StatusCode::BAD_GATEWAY, code, message)
            }
            AppError::Unavailable { what, source } => {
                tracing::error!(dependency = what, error = %source, "dependency unavailable");
                Self::new(
                    StatusCode::SERVICE_UNAVAILABLE,
                    ErrorCode::unavailable(what),
                    format!("the {what} is unavailable; try again later"),
                )
            }
        }
    }
}

fn json_error(err: JsonPayloadError) -> ApiError {
    match err {
        JsonPayloadError::OverflowKnownLength { length, limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the body is {length} bytes; the limit is {limit}"),
        ),
        JsonPayloadError::Overflow { limit } => ApiError::new(
            StatusCode::PAYLOAD_TOO_LARGE,
            ErrorCode::PayloadTooLarge,
            format!("the body is larger than the limit of {limit} bytes"),
        ),
        JsonPayloadError::ContentType => ApiError::new(
            StatusCode::UNSUPPORTED_MEDIA_TYPE,
            ErrorCode::UnsupportedMediaType,
            "send the body as application/json",
        ),
        JsonPayloadError::Deserialize(e) if e.is_data() => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            format!("the JSON body does not fit: {e}"),
        ),
        JsonPayloadError::Deserialize(e) => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("the body is not valid JSON: {e}"),
        ),
        other => ApiError::new(
            StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            format!("the body could not be read: {other}"),
        ),
    }
}

/// JSON extractor settings: size limit, `application/json` (or `+json`) required (a web
/// page's "simple" cross-site request cannot send that type), JSON errors.
pub fn json_config(limit: usize) -> web::JsonConfig {
    web::JsonConfig::default()
        .limit(limit)
        .content_type_required(true)
        .error_handler(|err, _req: &HttpRequest| json_error(err).into())
}

/// Query extractor settings: JSON errors.
pub fn query_config() -> web::QueryConfig {
    web::QueryConfig::default().error_handler(|err, _req| {
        let message = match err {
            QueryPayloadError::Deserialize(e) => format!("invalid query string: {e}"),
            other => format!("invalid query string: {other}"),
        };
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidQuery, message).into()
    })
}

/// Path extractor settings: JSON errors.
pub fn path_config() -> web::PathConfig {
    web::PathConfig::default().error_handler(|err, _req| {
        let message = match err {
            PathError::Deserialize(e) => format!("invalid path parameter: {e}"),
            other => format!("invalid path parameter: {other}"),
        };
        ApiError::new(StatusCode::BAD_REQUEST, ErrorCode::InvalidPath, message).into()
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use orchestra_domain::ApprovalStatus;

    fn json(err: &ApiError) -> serde_json::Value {
        serde_json::to_value(err.body()).unwrap()
    }

    #[test]
    fn application_fields_become_the_requests_json_names() {
        assert_eq!(json_name("working_directory"), "workingDirectory");
        assert_eq!(json_name("append_system_prompt"), "appendSystemPrompt");
        assert_eq!(json_name("prompt"), "prompt");
        let err = ApiError::from(AppError::invalid("max_turns", "must be between 1 and 1000"));
        assert_eq!(err.body().field.as_deref(), Some("maxTurns"));
        assert_eq!(err.body().message, "maxTurns: must be between 1 and 1000");
    }

    #[test]
    fn an_already_decided_approval_maps_to_409_with_a_stable_body() {
        let err = ApiError::from(AppError::Decide(DecideApprovalError::AlreadyDecided {
            current: ApprovalStatus::Approved,
        }));
        assert_eq!(err.status(), StatusCode::CONFLICT);
        assert_eq!(
            json(&err),
            serde_json::json!({
                "code": "approval_already_decided",
                "message": "the approval was already decided: it is Approved; the first decision stands"
            })
        );
    }

    #[test]
    fn validation_errors_name_the_field() {
        let err = ApiError::from(AppError::invalid("toolName", "must not be empty"));
        assert_eq!(err.status(), StatusCode::BAD_REQUEST);
        assert_eq!(json(&err)["field"], "toolName");
        assert_eq!(json(&err)["code"], "validation_failed");
    }

    #[test]
    fn unavailable_hides_the_cause() {
        let err = ApiError::from(AppError::Unavailable {
            what: "database",
            source: "password=hunter2 connection refused".into(),
        });
        assert_eq!(err.status(), StatusCode::SERVICE_UNAVAILABLE);
        assert!(!json(&err).to_string().contains("hunter2"));
        assert_eq!(json(&err)["code"], "database_unavailable");
    }
}
