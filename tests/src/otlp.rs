//! An in-process OTLP/HTTP trace receiver (protobuf, `/v1/traces`) on 127.0.0.1.

use std::sync::{Arc, Mutex};

use actix_web::{App, HttpResponse, HttpServer, web};
use opentelemetry_proto::tonic::collector::trace::v1::ExportTraceServiceRequest;
use opentelemetry_proto::tonic::common::v1::any_value::Value as AnyValue;
use opentelemetry_proto::tonic::trace::v1::Span;
use prost::Message;

type Received = Arc<Mutex<Vec<ExportTraceServiceRequest>>>;

async fn receive(body: web::Bytes, store: web::Data<Received>) -> HttpResponse {
    match ExportTraceServiceRequest::decode(body.as_ref()) {
        Ok(req) => {
            store.lock().unwrap().push(req);
            HttpResponse::Ok()
                .content_type("application/x-protobuf")
                .body(Vec::<u8>::new())
        }
        Err(_) => HttpResponse::BadRequest().finish(),
    }
}

/// A running receiver.
pub struct Collector {
    /// `http://127.0.0.1:<port>` (for `OTEL_EXPORTER_OTLP_ENDPOINT`).
    pub endpoint: String,
    received: Received,
    handle: actix_web::dev::ServerHandle,
}

impl std::fmt::Debug for Collector {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Collector")
            .field("endpoint", &self.endpoint)
            .finish_non_exhaustive()
    }
}

impl Collector {
    /// Starts a receiver on a free port.
    pub fn start() -> Self {
        let received: Received = Arc::default();
        let data = web::Data::new(received.clone());
        let server = HttpServer::new(move || {
            App::new()
                .app_data(data.clone())
                .route("/v1/traces", web::post().to(receive))
        })
        .workers(1)
        .disable_signals()
        .bind(("127.0.0.1", 0))
        .unwrap();
        let port = server.addrs()[0].port();
        let server = server.run();
        let handle = server.handle();
        tokio::spawn(server);
        Self {
            endpoint: format!("http://127.0.0.1:{port}"),
            received,
            handle,
        }
    }

    /// Stops it.
    pub async fn stop(&self) {
        self.handle.stop(true).await;
    }

    /// The `service.name` of every export received.
    pub fn services(&self) -> Vec<String> {
        let mut names: Vec<String> = self
            .received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .filter_map(|rs| {
                rs.resource.as_ref()?.attributes.iter().find_map(|a| {
                    (a.key == "service.name").then(|| {
                        match a.value.as_ref()?.value.as_ref()? {
                            AnyValue::StringValue(s) => Some(s.clone()),
                            _ => None,
                        }
                    })?
                })
            })
            .collect();
        names.sort();
        names.dedup();
        names
    }

    /// Every span received from the service named `service`.
    pub fn spans(&self, service: &str) -> Vec<Span> {
        self.received
            .lock()
            .unwrap()
            .iter()
            .flat_map(|r| r.resource_spans.iter())
            .filter(|rs| {
                rs.resource.as_ref().is_some_and(|r| {
                    r.attributes.iter().any(|a| {
                        a.key == "service.name"
                            && matches!(a.value.as_ref().and_then(|v| v.value.as_ref()), Some(AnyValue::StringValue(s)) if s == service)
                    })
                })
            })
            .flat_map(|rs| rs.scope_spans.iter().flat_map(|ss| ss.spans.iter().cloned()))
            .collect()
    }
}

/// A span's attribute.
pub fn attr(span: &Span, key: &str) -> Option<AnyValue> {
    span.attributes
        .iter()
        .find(|a| a.key == key)
        .and_then(|a| a.value.as_ref())
        .and_then(|v| v.value.clone())
}
