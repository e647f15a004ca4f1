//! The W3C trace-context adapter: `traceparent`/`tracestate` in and out of tracing spans
//! through OpenTelemetry's propagator.

use std::collections::HashMap;

use opentelemetry::propagation::TextMapPropagator;
use opentelemetry::trace::TraceContextExt;
use opentelemetry_sdk::propagation::TraceContextPropagator;
use orchestra_application::ports::TraceContext;
use tracing_opentelemetry::OpenTelemetrySpanExt;

/// W3C trace context over the OpenTelemetry layer.
#[derive(Debug, Default)]
pub struct W3cTraceContext {
    propagator: TraceContextPropagator,
}

impl W3cTraceContext {
    /// The propagator.
    pub fn new() -> Self {
        Self::default()
    }
}

impl TraceContext for W3cTraceContext {
    fn adopt_remote_parent(
        &self,
        span: &tracing::Span,
        traceparent: &str,
        tracestate: Option<&str>,
    ) {
        let mut carrier = HashMap::new();
        carrier.insert("traceparent".to_owned(), traceparent.to_owned());
        if let Some(state) = tracestate {
            carrier.insert("tracestate".to_owned(), state.to_owned());
        }
        let cx = self.propagator.extract(&carrier);
        if cx.span().span_context().is_valid() {
            let _ = span.set_parent(cx);
        }
    }

    fn traceparent(&self, span: &tracing::Span) -> Option<String> {
        let cx = span.context();
        if !cx.span().span_context().is_valid() {
            return None;
        }
        let mut carrier: HashMap<String, String> = HashMap::new();
        self.propagator.inject_context(&cx, &mut carrier);
        carrier.remove("traceparent")
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn without_an_exporter_nothing_is_made_up() {
        let t = W3cTraceContext::new();
        let span = tracing::info_span!("x");
        t.adopt_remote_parent(&span, "not a traceparent", None);
        assert_eq!(t.traceparent(&span), None);
    }
}
