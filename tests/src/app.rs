//! `TestApp`: the real application, built in-process from real settings, on a random
//! port, over a real SQLite file or a real PostgreSQL database.

use std::collections::BTreeMap;
use std::path::Path;

use orchestra_infrastructure::telemetry::{self, LogFormat, TracingSettings};
use orchestra_server::{Application, Settings};
use reqwest::Client;
use serde_json::Value;
use tokio::sync::oneshot;
use tokio::task::JoinHandle;

use crate::pg::TestDatabase;

/// Which database the app runs on.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Backend {
    /// A temporary SQLite file.
    Sqlite,
    /// A fresh database on the harness's PostgreSQL.
    Postgres,
}

/// Where the app's data lives; dropping it removes it.
#[derive(Debug)]
pub enum TestStore {
    /// A temp dir holding the SQLite file.
    Sqlite(tempfile::TempDir),
    /// A PostgreSQL database.
    Postgres(TestDatabase),
}

/// Extra settings for a test app.
#[derive(Debug, Clone, Default)]
pub struct TestAppOptions {
    /// Extra environment variables (names as the deployment guide uses them).
    pub env: BTreeMap<String, String>,
}

impl TestAppOptions {
    /// Adds an environment variable.
    #[must_use]
    pub fn with(mut self, key: &str, value: impl Into<String>) -> Self {
        self.env.insert(key.to_owned(), value.into());
        self
    }
}

/// A running application and a client for it.
#[derive(Debug)]
pub struct TestApp {
    /// `http://127.0.0.1:<port>`.
    pub address: String,
    /// The bound port.
    pub port: u16,
    /// An HTTP client.
    pub client: Client,
    /// The data store.
    pub store: TestStore,
    stop: Option<oneshot::Sender<()>>,
    task: Option<JoinHandle<anyhow::Result<()>>>,
}

fn init_test_logging() {
    if std::env::var("TEST_LOG").is_ok() {
        let _ = telemetry::init_tracing(&TracingSettings {
            filter: "info,orchestra=debug".into(),
            format: LogFormat::Text,
            otlp_endpoint: None,
            service_name: "orchestra-test".into(),
            ansi: false,
        });
    }
}

/// The connection string for a backend, and the store that owns the data.
pub fn new_store(backend: Backend) -> (String, TestStore) {
    match backend {
        Backend::Sqlite => {
            let dir = tempfile::tempdir().unwrap();
            let path = dir.path().join("orchestra.db");
            (
                format!("Data Source={}", path.display()),
                TestStore::Sqlite(dir),
            )
        }
        Backend::Postgres => {
            let db = TestDatabase::migrated();
            (db.ado_connection_string(), TestStore::Postgres(db))
        }
    }
}

impl TestApp {
    /// Starts the app on `backend` with default test settings.
    pub async fn spawn(backend: Backend) -> Self {
        Self::spawn_with(backend, TestAppOptions::default()).await
    }

    /// Starts the app on `backend` with extra settings.
    pub async fn spawn_with(backend: Backend, options: TestAppOptions) -> Self {
        init_test_logging();
        let (connection_string, store) = match backend {
            Backend::Postgres => tokio::task::spawn_blocking(move || new_store(backend))
                .await
                .unwrap(),
            Backend::Sqlite => new_store(backend),
        };
        let mut env: BTreeMap<String, String> = [
            ("ORCHESTRA__SERVER__HOST", "127.0.0.1".to_owned()),
            ("ORCHESTRA__SERVER__PORT", "0".to_owned()),
            ("ORCHESTRA__SERVER__WORKERS", "2".to_owned()),
            ("ORCHESTRA__SERVER__SHUTDOWN_TIMEOUT_SECS", "2".to_owned()),
            ("ORCHESTRA__DATABASE__CONNECT_TIMEOUT_SECS", "2".to_owned()),
            ("DB_CONNECTION_STRING", connection_string),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        env.extend(options.env);
        let settings = Settings::load_from(None, &env, Path::new("/nonexistent"))
            .expect("test settings are valid");
        let metrics = telemetry::install_metrics("test").unwrap();
        let app = Application::build(&settings, metrics, false)
            .await
            .expect("app builds");
        let port = app.port();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stop_rx.await;
        }));
        let client = Client::builder()
            .timeout(std::time::Duration::from_secs(30))
            .build()
            .unwrap();
        Self {
            address: format!("http://127.0.0.1:{port}"),
            port,
            client,
            store,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// `address + path`.
    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.address)
    }

    /// GET, returning status and JSON body (`Value::Null` when the body is not JSON).
    pub async fn get_json(&self, path: &str) -> (u16, Value) {
        let res = self.client.get(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        let body = res.json::<Value>().await.unwrap_or(Value::Null);
        (status, body)
    }

    /// POST a JSON value, returning status and JSON body.
    pub async fn post_json(&self, path: &str, body: &Value) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .header("content-type", "application/json")
            .body(body.to_string())
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// POST a raw body with a content type, returning status and JSON body.
    pub async fn post_raw(
        &self,
        path: &str,
        content_type: &str,
        body: impl Into<reqwest::Body>,
    ) -> (u16, Value) {
        let res = self
            .client
            .post(self.url(path))
            .header("content-type", content_type)
            .body(body)
            .send()
            .await
            .unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// DELETE, returning status and JSON body.
    pub async fn delete_json(&self, path: &str) -> (u16, Value) {
        let res = self.client.delete(self.url(path)).send().await.unwrap();
        let status = res.status().as_u16();
        (status, res.json::<Value>().await.unwrap_or(Value::Null))
    }

    /// Creates a test approval and returns its id.
    pub async fn create_test_approval(&self) -> String {
        let (status, body) = self
            .post_json(
                "/api/approvals/test",
                &serde_json::json!({"toolName": "TestTool", "sessionId": "test-session"}),
            )
            .await;
        assert_eq!(status, 201, "{body}");
        body["approval"]["id"].as_str().unwrap().to_owned()
    }

    /// Stops the app gracefully and waits for it.
    pub async fn shutdown(mut self) {
        self.stop_now().await;
    }

    async fn stop_now(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
        if let Some(task) = self.task.take() {
            task.await.unwrap().unwrap();
        }
    }
}

impl Drop for TestApp {
    fn drop(&mut self) {
        if let Some(stop) = self.stop.take() {
            let _ = stop.send(());
        }
    }
}
