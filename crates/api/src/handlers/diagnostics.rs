//! `/api/diagnostics/*`: PascalCase payloads, as the deployment guide's `jq` paths read them.

use std::collections::BTreeMap;

use actix_web::{HttpResponse, web};
use orchestra_application::approvals::ListApprovals;
use orchestra_application::ports::{ApprovalFilter, PageRequest};
use orchestra_domain::ApprovalStatus;

use super::resource;
use crate::dto::{
    CircuitBreakerResponse, DatabaseDiagnosticsResponse, ServiceMetricsResponse,
    TelegramStatusResponse,
};
use crate::error::ApiError;
use crate::state::AppState;

pub(crate) fn configure(cfg: &mut web::ServiceConfig) {
    cfg.service(resource("/api/diagnostics/database").route(web::get().to(database)))
        .service(resource("/api/diagnostics/circuit-breaker").route(web::get().to(circuit_breaker)))
        .service(resource("/api/diagnostics/metrics").route(web::get().to(service_metrics)))
        .service(
            resource("/api/diagnostics/telegram/status").route(web::get().to(telegram_status)),
        );
}

/// Database status: backend, pool, migrations. 503 with `Status: Disconnected` when down.
#[utoipa::path(get, path = "/api/diagnostics/database", tag = "diagnostics",
    responses(
        (status = 200, body = DatabaseDiagnosticsResponse),
        (status = 503, description = "The database does not answer", body = DatabaseDiagnosticsResponse),
    ))]
pub async fn database(state: web::Data<AppState>) -> HttpResponse {
    match state.database.handle().await {
        Ok(s) => HttpResponse::Ok().json(DatabaseDiagnosticsResponse {
            status: "Connected".into(),
            backend: Some(s.backend.to_owned()),
            location: Some(s.location),
            server_version: s.server_version,
            connections_active: s.connections_active,
            connections_idle: s.connections_idle,
            max_pool_size: s.max_pool_size,
            migration_version: s.migration_version,
            applied_migrations: s.applied_migrations,
            pending_migrations: s.pending_migrations,
            response_time_ms: s.latency.as_secs_f64() * 1000.0,
            error: None,
        }),
        Err(err) => {
            tracing::warn!(error = %err, "database diagnostics: unavailable");
            HttpResponse::ServiceUnavailable().json(DatabaseDiagnosticsResponse {
                status: "Disconnected".into(),
                backend: None,
                location: None,
                server_version: None,
                connections_active: 0,
                connections_idle: 0,
                max_pool_size: 0,
                migration_version: None,
                applied_migrations: 0,
                pending_migrations: 0,
                response_time_ms: 0.0,
                error: Some("the database does not answer".into()),
            })
        }
    }
}

/// The Telegram circuit breaker's state.
#[utoipa::path(get, path = "/api/diagnostics/circuit-breaker", tag = "diagnostics",
    responses((status = 200, body = CircuitBreakerResponse)))]
pub async fn circuit_breaker(state: web::Data<AppState>) -> HttpResponse {
    let s = state.notifier.status();
    HttpResponse::Ok().json(CircuitBreakerResponse {
        state: s.circuit_state.to_owned(),
        name: format!("{}-notifier", s.channel),
        enabled: s.enabled,
        last_error: s.last_error,
    })
}

/// Queue size, Telegram health, sessions by status.
#[utoipa::path(get, path = "/api/diagnostics/metrics", tag = "diagnostics",
    responses((status = 200, body = ServiceMetricsResponse), (status = 503, body = crate::error::ErrorBody)))]
pub async fn service_metrics(state: web::Data<AppState>) -> Result<HttpResponse, ApiError> {
    let pending = state
        .approvals
        .list
        .handle(ListApprovals {
            filter: ApprovalFilter {
                status: Some(ApprovalStatus::Pending),
                ..Default::default()
            },
            page: PageRequest {
                offset: 0,
                limit: 1,
            },
        })
        .await?;
    let sessions: BTreeMap<String, u64> = state
        .sessions
        .count
        .handle()
        .await?
        .into_iter()
        .map(|(s, n)| (s.as_str().to_owned(), n))
        .collect();
    let notifications_pending = state.approvals.list.notifications_due().await?;
    let n = state.notifier.status();
    Ok(HttpResponse::Ok().json(ServiceMetricsResponse {
        queue_size: pending.total,
        notifications_pending,
        telegram_service_healthy: n.healthy,
        telegram_enabled: n.enabled,
        circuit_breaker_state: n.circuit_state.to_owned(),
        sessions,
        uptime_seconds: i64::try_from(state.info.started.elapsed().as_secs()).unwrap_or(i64::MAX),
        version: state.info.version.clone(),
        environment: state.info.environment.clone(),
    }))
}

/// Telegram configuration and reachability, without secrets.
#[utoipa::path(get, path = "/api/diagnostics/telegram/status", tag = "diagnostics",
    responses((status = 200, body = TelegramStatusResponse)))]
pub async fn telegram_status(state: web::Data<AppState>) -> HttpResponse {
    let s = state.notifier.status();
    HttpResponse::Ok().json(TelegramStatusResponse {
        details: s
            .details
            .iter()
            .map(|(k, v)| ((*k).to_owned(), v.clone()))
            .collect(),
        enabled: s.enabled,
        healthy: s.healthy,
        circuit_breaker_state: s.circuit_state.to_owned(),
        channel: s.channel.to_owned(),
        last_error: s.last_error,
    })
}
