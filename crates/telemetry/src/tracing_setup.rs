//! Installs the global tracing subscriber: log filter and format, and OTLP span export.

use std::time::Duration;

use opentelemetry::trace::TracerProvider as _;
use opentelemetry_otlp::{Protocol, WithExportConfig};
use opentelemetry_sdk::Resource;
use opentelemetry_sdk::trace::SdkTracerProvider;
use tracing_subscriber::fmt::format::JsonFields;
use tracing_subscriber::fmt::writer::BoxMakeWriter;
use tracing_subscriber::layer::SubscriberExt;
use tracing_subscriber::util::SubscriberInitExt;
use tracing_subscriber::{EnvFilter, Layer};

/// How log lines look.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub enum LogFormat {
    /// Human-readable lines.
    #[default]
    Text,
    /// One JSON object per line.
    Json,
}

/// What the tracing setup needs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TracingSettings {
    /// The default filter (`info`, `orchestra=debug,info`, ...); `RUST_LOG` overrides it.
    pub filter: String,
    /// Log line format.
    pub format: LogFormat,
    /// OTLP/HTTP endpoint (`http://collector:4318`); spans are exported only when set.
    pub otlp_endpoint: Option<String>,
    /// The `service.name` resource attribute.
    pub service_name: String,
    /// Whether to colour text logs.
    pub ansi: bool,
    /// Lines go to this file (rotated by size) instead of stdout.
    pub log_file: Option<crate::LogFileSettings>,
}

/// Keeps the span exporter alive; [`TelemetryGuard::shutdown`] flushes it.
#[derive(Debug, Default)]
pub struct TelemetryGuard {
    provider: Option<SdkTracerProvider>,
    /// Flushes the log file's writer thread when dropped.
    log_file: Option<tracing_appender::non_blocking::WorkerGuard>,
}

impl TelemetryGuard {
    /// Whether spans are exported.
    pub fn exports_spans(&self) -> bool {
        self.provider.is_some()
    }

    /// Flushes buffered spans and stops the exporter. Blocking: call it from a blocking
    /// thread (`spawn_blocking`), not from an async task.
    pub fn shutdown(&mut self) {
        if let Some(provider) = self.provider.take() {
            if let Err(err) = provider.force_flush() {
                tracing::warn!(error = %err, "flushing spans failed");
            }
            if let Err(err) = provider.shutdown() {
                tracing::warn!(error = %err, "stopping the span exporter failed");
            }
        }
        // Last: what was logged above is written before the writer thread ends.
        drop(self.log_file.take());
    }
}

/// The OTLP/HTTP traces URL for an endpoint: the spec's `OTEL_EXPORTER_OTLP_ENDPOINT` is a
/// base URL to which `/v1/traces` is appended; a URL that already ends in it is kept.
pub fn otlp_traces_url(endpoint: &str) -> String {
    let trimmed = endpoint.trim().trim_end_matches('/');
    if trimmed.ends_with("/v1/traces") {
        trimmed.to_owned()
    } else {
        format!("{trimmed}/v1/traces")
    }
}

/// Installs the global subscriber: env filter, fmt layer, and the OpenTelemetry layer when
/// an endpoint is set. Calling it again (tests) keeps the first subscriber.
///
/// # Errors
/// When the filter does not parse or the exporter cannot be built.
pub fn init_tracing(settings: &TracingSettings) -> anyhow::Result<TelemetryGuard> {
    let filter = match std::env::var("RUST_LOG") {
        Ok(v) if !v.trim().is_empty() => EnvFilter::try_new(v)?,
        _ => EnvFilter::try_new(&settings.filter)?,
    };
    let slot = crate::json_log::DispatchSlot::default();
    let exports = settings
        .otlp_endpoint
        .as_deref()
        .is_some_and(|e| !e.trim().is_empty());
    let (writer, file_guard) = match &settings.log_file {
        Some(file) => {
            let (writer, guard) = crate::log_file::open(file).map_err(|e| {
                anyhow::anyhow!("cannot open the log file {}: {e}", file.path.display())
            })?;
            (BoxMakeWriter::new(writer), Some(guard))
        }
        None => (BoxMakeWriter::new(std::io::stdout), None),
    };
    let fmt_layer = match settings.format {
        LogFormat::Text => tracing_subscriber::fmt::layer()
            .with_ansi(settings.ansi && settings.log_file.is_none())
            .with_target(true)
            .with_writer(writer)
            .boxed(),
        LogFormat::Json => tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(if exports {
                crate::JsonLines::with_trace_ids(slot.clone())
            } else {
                crate::JsonLines::new()
            })
            .with_writer(writer)
            .boxed(),
    };

    let (otel_layer, provider) = match settings
        .otlp_endpoint
        .as_deref()
        .filter(|e| !e.trim().is_empty())
    {
        Some(endpoint) => {
            let exporter = opentelemetry_otlp::SpanExporter::builder()
                .with_http()
                .with_protocol(Protocol::HttpBinary)
                .with_endpoint(otlp_traces_url(endpoint))
                .with_timeout(Duration::from_secs(5))
                .build()?;
            let provider = SdkTracerProvider::builder()
                .with_batch_exporter(exporter)
                .with_resource(
                    Resource::builder()
                        .with_service_name(settings.service_name.clone())
                        .build(),
                )
                .build();
            let tracer = provider.tracer("orchestra");
            (
                Some(tracing_opentelemetry::layer().with_tracer(tracer)),
                Some(provider),
            )
        }
        None => (None, None),
    };

    let installed = tracing_subscriber::registry()
        .with(filter)
        .with(fmt_layer)
        .with(otel_layer)
        .with(crate::json_log::CaptureDispatch(slot))
        .try_init();
    if installed.is_err() {
        // A subscriber exists already (a second app in one test process): keep it, and do
        // not hold an exporter nobody feeds.
        if let Some(p) = provider {
            let _ = p.shutdown();
        }
        return Ok(TelemetryGuard::default());
    }
    Ok(TelemetryGuard {
        provider,
        log_file: file_guard,
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_traces_path_is_appended_once() {
        assert_eq!(otlp_traces_url("http://c:4318"), "http://c:4318/v1/traces");
        assert_eq!(otlp_traces_url("http://c:4318/"), "http://c:4318/v1/traces");
        assert_eq!(
            otlp_traces_url("http://c:4318/v1/traces"),
            "http://c:4318/v1/traces"
        );
    }
}
