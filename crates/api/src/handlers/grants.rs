//! `/api/sessions/{id}/grants`: what humans allowed a session beyond single calls, and
//! taking it back.

use actix_web::{HttpResponse, web};
use orchestra_domain::ApprovalId;

use super::resource;
use super::sessions::parse_session_id;
use crate::auth::Caller;
use crate::dto::{GrantListResponse, GrantResponse};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/sessions/{sessionId}/grants").route(web::get().to(list)))
        .service(
            resource("/api/sessions/{sessionId}/grants/{grantId}").route(web::delete().to(revoke)),
        );
}

/// The session's grants (active, expired and revoked), oldest first.
#[utoipa::path(get, operation_id = "list_grants", path = "/api/sessions/{sessionId}/grants", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id (UUID)")),
    responses((status = 200, body = GrantListResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let grants = state.sessions.grants.list(id).await?;
    Ok(HttpResponse::Ok().json(GrantListResponse {
        items: grants.iter().map(GrantResponse::from).collect(),
    }))
}

/// Revokes a grant: the next call it would have covered asks a human again, on every node.
/// A second revocation gets 409 and changes nothing.
#[utoipa::path(delete, operation_id = "revoke_grant", path = "/api/sessions/{sessionId}/grants/{grantId}", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id (UUID)"),
           ("grantId" = String, Path, description = "Grant id (the approval's UUID)")),
    responses((status = 200, body = GrantResponse), (status = 400, body = ErrorBody),
              (status = 404, body = ErrorBody), (status = 409, description = "Already revoked", body = ErrorBody)))]
pub async fn revoke(
    state: web::Data<AppState>,
    caller: Caller,
    path: web::Path<(String, String)>,
) -> Result<HttpResponse, ApiError> {
    let (session, grant) = path.into_inner();
    let session = parse_session_id(&session)?;
    let grant = grant
        .parse::<ApprovalId>()
        .map_err(|e| ApiError::bad_request("grantId", e.to_string()))?;
    let revoked = state
        .sessions
        .grants
        .revoke(session, grant, caller.0.name())
        .await?;
    Ok(HttpResponse::Ok().json(GrantResponse::from(&revoked)))
}
