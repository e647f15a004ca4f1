//! JSON log lines that carry the ids an operator searches by: the event's fields, the fields
//! of the spans it happened in (a request's route, a turn's session), `session_id`,
//! `approval_id` and `turn_id` under one name each whatever the code called them, and, when
//! spans are exported, the `trace_id` and `span_id` that find the line's trace.

use std::fmt;
use std::sync::{Arc, OnceLock};

use opentelemetry::trace::TraceContextExt;
use serde_json::{Map, Value};
use tracing::dispatcher::WeakDispatch;
use tracing::field::{Field, Visit};
use tracing::{Dispatch, Event, Subscriber};
use tracing_opentelemetry::get_otel_context;
use tracing_subscriber::Layer;
use tracing_subscriber::fmt::format::Writer;
use tracing_subscriber::fmt::{FmtContext, FormatEvent, FormatFields, FormattedFields};
use tracing_subscriber::registry::LookupSpan;

/// The JSON event format.
#[derive(Debug, Clone, Default)]
pub struct JsonLines {
    /// Set when spans have OpenTelemetry ids (an exporter is set): each line inside a span
    /// then carries them, read through the subscriber that [`CaptureDispatch`] saw.
    trace_ids: Option<DispatchSlot>,
}

impl JsonLines {
    /// Lines without trace ids.
    pub fn new() -> Self {
        Self::default()
    }

    /// Lines with the trace ids of the subscriber `slot` is filled with.
    pub fn with_trace_ids(slot: DispatchSlot) -> Self {
        Self {
            trace_ids: Some(slot),
        }
    }
}

/// The subscriber, once registered. Inside a subscriber's callback `Span::current()` sees
/// no subscriber (tracing does not re-enter), so the formatter reaches the OpenTelemetry
/// layer through this.
#[derive(Debug, Clone, Default)]
pub struct DispatchSlot(Arc<OnceLock<WeakDispatch>>);

/// A layer that fills a [`DispatchSlot`] when its subscriber is registered.
#[derive(Debug, Clone)]
pub struct CaptureDispatch(pub DispatchSlot);

impl<S: Subscriber> Layer<S> for CaptureDispatch {
    fn on_register_dispatch(&self, subscriber: &Dispatch) {
        let _ = self.0.0.set(subscriber.downgrade());
    }
}

/// The one JSON name of an id field.
fn key(name: &str) -> &str {
    match name {
        "session.id" | "session_id" => "session_id",
        "approval.id" | "approval_id" => "approval_id",
        "turn.id" | "turn_id" => "turn_id",
        other => other,
    }
}

struct Fields<'a>(&'a mut Map<String, Value>);

impl Fields<'_> {
    fn put(&mut self, field: &Field, value: Value) {
        self.0.insert(key(field.name()).to_owned(), value);
    }
}

impl Visit for Fields<'_> {
    fn record_str(&mut self, field: &Field, value: &str) {
        self.put(field, value.into());
    }
    fn record_bool(&mut self, field: &Field, value: bool) {
        self.put(field, value.into());
    }
    fn record_i64(&mut self, field: &Field, value: i64) {
        self.put(field, value.into());
    }
    fn record_u64(&mut self, field: &Field, value: u64) {
        self.put(field, value.into());
    }
    fn record_f64(&mut self, field: &Field, value: f64) {
        self.put(field, value.into());
    }
    fn record_debug(&mut self, field: &Field, value: &dyn fmt::Debug) {
        self.put(field, format!("{value:?}").into());
    }
}

impl<S, N> FormatEvent<S, N> for JsonLines
where
    S: Subscriber + for<'a> LookupSpan<'a>,
    N: for<'a> FormatFields<'a> + 'static,
{
    fn format_event(
        &self,
        ctx: &FmtContext<'_, S, N>,
        mut writer: Writer<'_>,
        event: &Event<'_>,
    ) -> fmt::Result {
        // First, with no span's extensions held: the OpenTelemetry layer locks them.
        let ids = self.trace_ids.as_ref().and_then(|slot| {
            let id = ctx.lookup_current()?.id();
            let dispatch = slot.0.get()?.upgrade()?;
            let cx = get_otel_context(&id, &dispatch)?;
            let span = cx.span();
            let sc = span.span_context();
            sc.is_valid()
                .then(|| (sc.trace_id().to_string(), sc.span_id().to_string()))
        });
        let meta = event.metadata();
        let mut line = Map::new();
        #[expect(
            clippy::disallowed_methods,
            reason = "a log line's timestamp is the wall clock, not a rule's notion of time"
        )]
        let now = chrono::Utc::now();
        line.insert(
            "timestamp".into(),
            now.to_rfc3339_opts(chrono::SecondsFormat::Micros, true)
                .into(),
        );
        line.insert("level".into(), meta.level().as_str().into());
        line.insert("target".into(), meta.target().into());
        event.record(&mut Fields(&mut line));
        if let Some(scope) = ctx.event_scope() {
            let mut innermost = None;
            // Innermost first: a field of the closest span wins over an outer one's, and the
            // event's own fields over both.
            for span in scope {
                innermost.get_or_insert_with(|| span.name());
                let ext = span.extensions();
                let Some(fields) = ext.get::<FormattedFields<N>>() else {
                    continue;
                };
                if let Ok(Value::Object(map)) = serde_json::from_str::<Value>(fields) {
                    for (k, v) in map {
                        line.entry(key(&k).to_owned()).or_insert(v);
                    }
                }
            }
            if let Some(name) = innermost {
                line.insert("span".into(), name.into());
            }
        }
        if let Some((trace_id, span_id)) = ids {
            line.insert("trace_id".into(), trace_id.into());
            line.insert("span_id".into(), span_id.into());
        }
        let text = serde_json::to_string(&Value::Object(line)).map_err(|_| fmt::Error)?;
        writeln!(writer, "{text}")
    }
}

#[cfg(test)]
mod tests {
    use std::io::Write;
    use std::sync::{Arc, Mutex};

    use opentelemetry::trace::TracerProvider as _;
    use tracing_opentelemetry::OpenTelemetrySpanExt;
    use tracing_subscriber::fmt::format::JsonFields;
    use tracing_subscriber::layer::SubscriberExt;

    use super::*;

    #[derive(Clone, Default)]
    struct Buf(Arc<Mutex<Vec<u8>>>);

    impl Write for Buf {
        fn write(&mut self, b: &[u8]) -> std::io::Result<usize> {
            self.0.lock().unwrap().extend_from_slice(b);
            Ok(b.len())
        }
        fn flush(&mut self) -> std::io::Result<()> {
            Ok(())
        }
    }

    impl Buf {
        fn lines(&self) -> Vec<Value> {
            String::from_utf8(self.0.lock().unwrap().clone())
                .unwrap()
                .lines()
                .map(|l| serde_json::from_str(l).unwrap())
                .collect()
        }
    }

    fn layer<S>(buf: &Buf, format: JsonLines) -> impl tracing_subscriber::Layer<S>
    where
        S: Subscriber + for<'a> LookupSpan<'a>,
    {
        let buf = buf.clone();
        tracing_subscriber::fmt::layer()
            .fmt_fields(JsonFields::new())
            .event_format(format)
            .with_writer(move || buf.clone())
    }

    #[test]
    fn a_line_carries_its_spans_ids_under_one_name() {
        let buf = Buf::default();
        let subscriber = tracing_subscriber::registry().with(layer(&buf, JsonLines::new()));
        tracing::subscriber::with_default(subscriber, || {
            let request = tracing::info_span!("request", route = "/api/sessions/{id}/messages");
            let _r = request.enter();
            let turn = tracing::info_span!("turn", session.id = "s-1", turn_id = "t-1");
            let _t = turn.enter();
            tracing::info!(
                approval.id = "a-1",
                tool = "Bash",
                "HealthCheck: asked a human"
            );
        });
        let lines = buf.lines();
        assert_eq!(lines.len(), 1, "{lines:?}");
        let l = &lines[0];
        assert_eq!(l["message"], "HealthCheck: asked a human");
        assert_eq!(l["level"], "INFO");
        assert_eq!(
            (&l["session_id"], &l["approval_id"], &l["turn_id"]),
            (&json("s-1"), &json("a-1"), &json("t-1"))
        );
        assert_eq!(l["route"], "/api/sessions/{id}/messages");
        assert_eq!((&l["span"], &l["tool"]), (&json("turn"), &json("Bash")));
        assert!(
            l.get("session.id").is_none() && l.get("trace_id").is_none(),
            "{l}"
        );
    }

    fn json(s: &str) -> Value {
        Value::String(s.to_owned())
    }

    #[test]
    fn with_spans_exported_a_line_carries_the_trace_it_belongs_to() {
        let buf = Buf::default();
        let provider = opentelemetry_sdk::trace::SdkTracerProvider::builder().build();
        let slot = DispatchSlot::default();
        let subscriber = tracing_subscriber::registry()
            .with(tracing_opentelemetry::layer().with_tracer(provider.tracer("test")))
            .with(CaptureDispatch(slot.clone()))
            .with(layer(&buf, JsonLines::with_trace_ids(slot)));
        let (trace, span_id) = tracing::subscriber::with_default(subscriber, || {
            tracing::info!("outside any span");
            let span = tracing::info_span!("request");
            let _g = span.enter();
            tracing::info!("inside");
            let cx = span.context();
            let sc = cx.span().span_context().clone();
            (sc.trace_id().to_string(), sc.span_id().to_string())
        });
        let lines = buf.lines();
        assert!(lines[0].get("trace_id").is_none(), "{}", lines[0]);
        assert_eq!(lines[1]["trace_id"], json(&trace));
        assert_eq!(lines[1]["span_id"], json(&span_id));
        assert_eq!(trace.len(), 32);
    }
}
