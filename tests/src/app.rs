//! `TestApp`: the real application, built in-process from real settings, on a random
//! port, over a real SQLite file or a real PostgreSQL database.

use std::collections::BTreeMap;
use std::path::Path;

use orchestra_server::{Application, Settings};
use orchestra_telemetry::{self as telemetry, LogFormat, TracingSettings};
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
    /// Handed over to the caller.
    Taken,
}

impl TestStore {
    /// A connection string for the store.
    pub fn connection_string(&self) -> String {
        match self {
            Self::Sqlite(dir) => {
                format!("Data Source={}", dir.path().join("orchestra.db").display())
            }
            Self::Postgres(db) => db.url(),
            Self::Taken => String::new(),
        }
    }

    /// Runs SQL statements on the store outside Orchestra ([`crate::raw_sql`]: `{PAST}` is
    /// "a minute ago").
    pub fn sql(&self, statements: &[&str]) {
        let mut conn = match self {
            Self::Sqlite(dir) => crate::raw_sql::connect(None, &dir.path().join("orchestra.db")),
            Self::Postgres(db) => crate::raw_sql::connect(Some(db.url()), std::path::Path::new("")),
            Self::Taken => panic!("the store was handed over"),
        };
        crate::raw_sql::execute(&mut conn, statements);
    }

    /// Reads a session's status straight from the database.
    pub async fn session_status(&self, id: &str) -> String {
        use orchestra_application::ports::SessionRepository as _;
        let target = orchestra_db::DatabaseTarget::parse(&self.connection_string()).unwrap();
        let db = tokio::task::spawn_blocking(move || {
            orchestra_db::Database::open(target, orchestra_db::PoolSettings::default())
        })
        .await
        .unwrap()
        .unwrap();
        let repo = orchestra_db::DieselSessionRepository::new(db);
        repo.find(id.parse().unwrap())
            .await
            .unwrap()
            .unwrap()
            .status()
            .as_str()
            .to_owned()
    }
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

    /// Runs agents with the fake CLI (`fake-claude`), short stop-ladder deadlines, and a
    /// private `HOME` (where the fake keeps conversations).
    #[must_use]
    pub fn fake_cli(self, home: &Path) -> Self {
        self.with(
            "ORCHESTRA__CLAUDE__BINARY",
            crate::binary::test_binary("fake-claude")
                .display()
                .to_string(),
        )
        .with("ORCHESTRA__CLAUDE__HOME", home.display().to_string())
        .with("ORCHESTRA__CLAUDE__STOP_INTERRUPT_GRACE_MS", "500")
        .with("ORCHESTRA__CLAUDE__STOP_EOF_GRACE_MS", "500")
        .with("ORCHESTRA__CLAUDE__STOP_SIGINT_GRACE_MS", "300")
        .with("ORCHESTRA__CLAUDE__STOP_SIGTERM_GRACE_MS", "300")
        .with("ORCHESTRA__CLAUDE__STOP_SIGKILL_GRACE_MS", "2000")
        .with("ORCHESTRA__CLAUDE__HEALTH_CHECK_INTERVAL_SECS", "1")
    }

    /// Agents are the real CLI (`.tools/`, pinned) with `home` as HOME, talking to the mock
    /// Anthropic API at `mock_base_url`, with no retries.
    #[must_use]
    pub fn real_cli(self, mock_base_url: &str, home: &Path) -> Self {
        self.with(
            "ORCHESTRA__CLAUDE__BINARY",
            crate::mock_anthropic::claude_cli_binary()
                .display()
                .to_string(),
        )
        .with("ORCHESTRA__CLAUDE__HOME", home.display().to_string())
        .with("ORCHESTRA__CLAUDE__MAX_RETRIES", "0")
        .with("ORCHESTRA__CLAUDE__API_TIMEOUT_MS", "20000")
        .with("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_BASE_URL", mock_base_url)
        .with("ORCHESTRA__CLAUDE__ENV__ANTHROPIC_API_KEY", "test-key")
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
    /// The session command handlers (to look inside).
    pub sessions: orchestra_application::sessions::SessionCommands,
    /// The data store.
    pub store: TestStore,
    /// The key repository.
    api_keys: std::sync::Arc<dyn orchestra_application::ports::ApiKeyRepository>,
    /// Makes API keys (the client sends the bootstrap admin key).
    pub keys: orchestra_application::keys::CreateApiKeyHandler,
    /// The settings it runs with.
    pub settings: Settings,
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
            log_file: None,
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
            (
                "ORCHESTRA__AUTH__BOOTSTRAP_ADMIN_KEY",
                crate::auth::TEST_ADMIN_KEY.to_owned(),
            ),
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
        let sessions = app.sessions().clone();
        let api_keys = app.api_keys();
        let keys = orchestra_application::keys::CreateApiKeyHandler::new(
            api_keys.clone(),
            std::sync::Arc::new(orchestra_application::ports::SystemClock),
        );
        let port = app.port();
        let (stop_tx, stop_rx) = oneshot::channel::<()>();
        let task = tokio::spawn(app.run_until(async {
            let _ = stop_rx.await;
        }));
        let client = crate::auth::client_with_key(crate::auth::TEST_ADMIN_KEY);
        Self {
            sessions,
            keys,
            api_keys,
            address: format!("http://127.0.0.1:{port}"),
            port,
            client,
            store,
            settings,
            stop: Some(stop_tx),
            task: Some(task),
        }
    }

    /// The key repository of the running app.
    pub fn api_keys(&self) -> std::sync::Arc<dyn orchestra_application::ports::ApiKeyRepository> {
        std::sync::Arc::clone(&self.api_keys)
    }

    /// A client with a fresh key of `role`.
    pub async fn client_as(&self, role: orchestra_domain::Role) -> Client {
        let name = format!("{}-{}", role.as_str(), uuid::Uuid::new_v4().simple());
        let (_, key) = self.keys.handle(&name, role).await.unwrap();
        crate::auth::client_with_key(&key)
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

    /// Stops the app gracefully and hands over its data store.
    pub async fn shutdown_keep_store(mut self) -> TestStore {
        self.stop_now().await;
        std::mem::replace(&mut self.store, TestStore::Taken)
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

impl TestApp {
    /// Waits until `check` holds for `GET path`, up to `within`; returns the last body.
    pub async fn wait_for_json(
        &self,
        path: &str,
        within: std::time::Duration,
        check: impl Fn(&Value) -> bool,
    ) -> Value {
        let deadline = std::time::Instant::now() + within;
        loop {
            let (_, body) = self.get_json(path).await;
            if check(&body) {
                return body;
            }
            assert!(
                std::time::Instant::now() < deadline,
                "timed out waiting on {path}; last: {body}"
            );
            tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        }
    }

    /// The Prometheus text of `GET /metrics`.
    pub async fn metrics_text(&self) -> String {
        self.client
            .get(self.url("/metrics"))
            .send()
            .await
            .unwrap()
            .text()
            .await
            .unwrap()
    }

    /// Creates a session in `dir` and returns its id.
    pub async fn create_session(&self, dir: &Path, extra: Value) -> String {
        let mut body = serde_json::json!({"workingDirectory": dir.display().to_string()});
        if let (Some(b), Some(e)) = (body.as_object_mut(), extra.as_object()) {
            b.extend(e.clone());
        }
        let (status, body) = self.post_json("/api/sessions", &body).await;
        assert_eq!(status, 201, "{body}");
        body["id"].as_str().unwrap().to_owned()
    }

    /// Sends a prompt without waiting: the turn starts (202) and runs on; returns status and
    /// body.
    pub async fn send(&self, session: &str, prompt: &str) -> (u16, Value) {
        self.post_json(
            &format!("/api/sessions/{session}/messages"),
            &serde_json::json!({"prompt": prompt}),
        )
        .await
    }

    /// Sends a prompt and waits for the turn; returns status and body.
    pub async fn turn(&self, session: &str, prompt: &str) -> (u16, Value) {
        self.post_json(
            &format!("/api/sessions/{session}/messages"),
            &serde_json::json!({"prompt": prompt, "wait": true, "timeoutSeconds": 120}),
        )
        .await
    }
}
