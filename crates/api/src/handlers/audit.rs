//! `GET /api/audit`: the audit log, newest first (admin).

use actix_web::{HttpResponse, web};
use orchestra_application::ports::Page;

use super::resource;
use crate::dto::{AuditEventResponse, PageResponse, PagingQuery};
use crate::error::{ApiError, ErrorBody};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/audit").route(web::get().to(list)));
}

/// The audit log, newest first: who started, decided, cancelled or changed what, and when.
#[utoipa::path(get, operation_id = "list_audit_events", path = "/api/audit", tag = "audit",
    params(PagingQuery),
    responses((status = 200, body = PageResponse<AuditEventResponse>), (status = 400, body = ErrorBody)))]
pub async fn list(
    state: web::Data<AppState>,
    query: web::Query<PagingQuery>,
) -> Result<HttpResponse, ApiError> {
    let request = query.to_page_request()?;
    let (items, total) = state.audit.page(request.offset, request.limit).await?;
    let page = Page {
        items,
        total,
        request,
    };
    Ok(HttpResponse::Ok().json(PageResponse::from_page(page, |e| {
        AuditEventResponse::from(e)
    })))
}
