//! `/api/sessions`: list and read sessions.

use actix_web::{HttpResponse, web};
use orchestra_application::ports::SessionFilter;
use orchestra_application::sessions::ListSessions;
use orchestra_domain::{SessionId, SessionStatus};

use super::resource;
use crate::dto::{PageResponse, PagingQuery, SessionListQuery, SessionResponse};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/sessions").route(web::get().to(list)))
        .service(resource("/api/sessions/{sessionId}").route(web::get().to(get)));
}

pub(crate) fn parse_session_id(raw: &str) -> Result<SessionId, ApiError> {
    raw.parse::<SessionId>()
        .map_err(|e| ApiError::bad_request("sessionId", e.to_string()))
}

/// Lists sessions, newest first, filtered and paged.
#[utoipa::path(get, path = "/api/sessions", tag = "sessions", params(SessionListQuery),
    responses((status = 200, body = PageResponse<SessionResponse>), (status = 400, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<SessionListQuery>,
) -> Result<HttpResponse, ApiError> {
    let q = query.into_inner();
    let status = q
        .status
        .as_deref()
        .map(str::parse::<SessionStatus>)
        .transpose()
        .map_err(|e| ApiError::bad_request("status", e.to_string()))?;
    let page = PagingQuery {
        page: q.page,
        page_size: q.page_size,
    }
    .to_page_request()?;
    let result = state
        .sessions
        .list
        .handle(ListSessions {
            filter: SessionFilter {
                status,
                agent_id: q.agent_id,
            },
            page,
        })
        .await?;
    Ok(
        HttpResponse::Ok().json(PageResponse::from_page(result, |s| {
            SessionResponse::from(s)
        })),
    )
}

/// Reads one session with its totals.
#[utoipa::path(get, path = "/api/sessions/{sessionId}", tag = "sessions",
    params(("sessionId" = String, Path, description = "Session id (UUID)")),
    responses((status = 200, body = SessionResponse), (status = 400, body = ErrorBody), (status = 404, body = ErrorBody)))]
pub async fn get(
    state: web::Data<AppState>,
    path: web::Path<String>,
) -> Result<HttpResponse, ApiError> {
    let id = parse_session_id(&path)?;
    let session = state.sessions.get.handle(id).await?;
    Ok(HttpResponse::Ok().json(SessionResponse::from(&session)))
}
