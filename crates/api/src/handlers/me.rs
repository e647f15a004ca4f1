//! `/api/me`: who the caller is, and, for the console, its CSRF token.

use actix_web::{HttpMessage, HttpRequest, HttpResponse, web};
use serde::Serialize;
use utoipa::ToSchema;

use super::resource;
use crate::auth::{Caller, ConsoleCsrf};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/me").route(web::get().to(me)));
}

/// The caller.
#[derive(Debug, Serialize, ToSchema)]
#[serde(rename_all = "camelCase")]
pub struct MeResponse {
    /// The key's name (`anonymous` with authentication disabled).
    pub name: String,
    /// Its role: viewer, operator, approver or admin.
    pub role: String,
    /// With the console's cookie: the token its requests that change something send in
    /// `X-CSRF-Token`. Absent for bearer keys (they need none).
    #[serde(skip_serializing_if = "Option::is_none")]
    pub csrf_token: Option<String>,
    /// Development, Staging or Production.
    pub environment: String,
}

/// Who the caller is.
#[utoipa::path(get, path = "/api/me", tag = "console",
    responses((status = 200, body = MeResponse), (status = 401, body = crate::error::ErrorBody)))]
pub async fn me(state: web::Data<AppState>, caller: Caller, req: HttpRequest) -> HttpResponse {
    let csrf = req.extensions().get::<ConsoleCsrf>().map(|c| c.0.clone());
    HttpResponse::Ok()
        .insert_header((actix_web::http::header::CACHE_CONTROL, "no-store"))
        .json(MeResponse {
            name: caller.0.name().to_owned(),
            role: caller.0.role().to_string(),
            csrf_token: csrf,
            environment: state.info.environment.clone(),
        })
}
