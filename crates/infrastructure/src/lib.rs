//! Orchestra's adapters: everything that touches the world outside the process.
//!
//! * [`db`]: diesel over SQLite and PostgreSQL through one `MultiConnection`, r2d2 pools,
//!   embedded migrations, the repositories and the database probe.
//! * [`telemetry`]: tracing subscriber, OTLP span export, the Prometheus recorder.
//!
//! **Architecture Invariant:** adapters implement the application's ports and map their
//! drivers' errors to the ports' error types at the seam; nothing above this crate sees
//! diesel, r2d2 or OpenTelemetry types.

pub mod claude;
pub mod db;
pub mod resilience;
pub mod telegram;
pub mod telemetry;
