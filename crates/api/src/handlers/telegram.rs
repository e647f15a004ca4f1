//! `POST /api/telegram/webhook`: Telegram's webhook mode. The secret token header must match.

use actix_web::{HttpRequest, HttpResponse, web};
use orchestra_application::ports::WebhookError;

use super::resource;
use crate::error::{ApiError, ErrorBody, ErrorCode};
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/telegram/webhook").route(web::post().to(webhook)));
}

/// Receives a Telegram update (webhook mode). 401 unless `X-Telegram-Bot-Api-Secret-Token`
/// matches; 404 when webhook mode is off.
#[utoipa::path(post, path = "/api/telegram/webhook", tag = "approvals",
    request_body(content = String, description = "A Telegram Update object", content_type = "application/json"),
    responses((status = 200), (status = 401, body = ErrorBody), (status = 404, body = ErrorBody), (status = 400, body = ErrorBody)))]
pub async fn webhook(
    state: web::Data<AppState>,
    req: HttpRequest,
    body: web::Bytes,
) -> Result<HttpResponse, ApiError> {
    let Some(inbound) = &state.inbound else {
        return Err(ApiError::route_not_found("POST", req.path()));
    };
    let secret = req
        .headers()
        .get("X-Telegram-Bot-Api-Secret-Token")
        .and_then(|v| v.to_str().ok());
    // The secret first (in constant time), so an unauthenticated body is never parsed.
    if !inbound.verify_secret(secret) {
        return Err(ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "the webhook secret token does not match",
        ));
    }
    let update: serde_json::Value = serde_json::from_slice(&body).map_err(|e| {
        ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            ErrorCode::InvalidJson,
            format!("the body is not JSON: {e}"),
        )
    })?;
    match inbound.handle_webhook(secret, update).await {
        Ok(()) => Ok(HttpResponse::Ok().finish()),
        Err(WebhookError::Unauthorized) => Err(ApiError::new(
            actix_web::http::StatusCode::UNAUTHORIZED,
            ErrorCode::Unauthorized,
            "the webhook secret token does not match",
        )),
        Err(WebhookError::Malformed(m)) => Err(ApiError::new(
            actix_web::http::StatusCode::BAD_REQUEST,
            ErrorCode::InvalidBody,
            m,
        )),
    }
}
