//! W3C trace context across process boundaries: a request's `traceparent` becomes the parent
//! of its span, and an agent process gets the `TRACEPARENT` of the span that starts it. The
//! OpenTelemetry side lives in the telemetry adapter; without an exporter nothing is done.

/// Reads and writes W3C trace context on tracing spans.
pub trait TraceContext: Send + Sync + std::fmt::Debug {
    /// Makes `span` a child of the remote span named by `traceparent` (and `tracestate`),
    /// when it is a valid W3C header. Call before the span is first entered.
    fn adopt_remote_parent(
        &self,
        span: &tracing::Span,
        traceparent: &str,
        tracestate: Option<&str>,
    );

    /// The W3C `traceparent` of `span`, when spans are exported.
    fn traceparent(&self, span: &tracing::Span) -> Option<String>;
}

/// No trace context (no exporter; the unit tests).
#[derive(Debug, Clone, Copy, Default)]
pub struct NoTraceContext;

impl TraceContext for NoTraceContext {
    fn adopt_remote_parent(&self, _: &tracing::Span, _: &str, _: Option<&str>) {}

    fn traceparent(&self, _: &tracing::Span) -> Option<String> {
        None
    }
}
