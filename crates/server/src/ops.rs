//! The operations listener (`server.ops_port`): `/metrics` and `/health*` on their own
//! address, plain HTTP, so a scraper or a probe needs neither the API's port nor its TLS, and
//! `/metrics` can stay off the interface clients reach.

use std::net::TcpListener;

use actix_web::{App, HttpServer, middleware::from_fn, web};
use anyhow::Context;

/// Binds and starts the operations listener; returns its port and the running server (not
/// yet awaited).
///
/// # Errors
/// When the address cannot be bound.
pub fn start(
    host: &str,
    port: u16,
    data: web::Data<orchestra_api::AppState>,
    shutdown_timeout_secs: u64,
) -> anyhow::Result<(u16, actix_web::dev::Server)> {
    let listener = TcpListener::bind((host, port))
        .with_context(|| format!("cannot listen on {host}:{port} (server.ops_port)"))?;
    let bound = listener.local_addr()?.port();
    let server = HttpServer::new(move || {
        App::new()
            .wrap(from_fn(orchestra_api::middleware::observe))
            .app_data(data.clone())
            .configure(orchestra_api::configure_ops)
            .default_service(web::to(orchestra_api::not_found))
    })
    .workers(1)
    .shutdown_timeout(shutdown_timeout_secs)
    .disable_signals()
    .listen(listener)?
    .run();
    tracing::info!(address = %format!("{host}:{bound}"), "operations listener (/metrics, /health) on http://{host}:{bound}");
    Ok((bound, server))
}
