//! Telemetry: structured logs with `tracing`, optional OTLP span export, and the
//! Prometheus recorder behind `/metrics`.

mod json_log;
mod log_file;
mod metrics_recorder;
mod process;
mod trace_context;
mod tracing_setup;

pub use json_log::JsonLines;
pub use log_file::LogFileSettings;
pub use metrics_recorder::{MetricsHandle, install_metrics};
pub use process::publish_process_metrics;
pub use trace_context::W3cTraceContext;
pub use tracing_setup::{
    LogFormat, TelemetryGuard, TracingSettings, init_tracing, otlp_traces_url,
};
