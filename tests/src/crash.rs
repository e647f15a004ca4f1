//! A rig for crash tests: the real binary on the fake CLI and the fake Bot API, restarted
//! over the same database (a SQLite file or a PostgreSQL database), HOME and node id, and
//! killed at a named point (`ORCHESTRA_TEST_CRASH_AT`, see
//! `orchestra_application::chaos::POINTS`) or with `kill -9` from outside.

use std::time::{Duration, Instant};

use serde_json::{Value, json};

use crate::Backend;
use crate::binary::{ServerProcess, test_binary};
use crate::fake_telegram::FakeTelegram;
use crate::pg::TestDatabase;

/// The chat the rig's Orchestra sends approvals to.
pub const CHAT: i64 = -100_555;
/// The Telegram user allowed to decide.
pub const APPROVER: i64 = 4242;

/// A free port below the kernel's ephemeral range (32768 and up here), so that another
/// test's `bind(0)` never takes it while the rig's Orchestra is down between two starts.
fn rig_port() -> u16 {
    // Nextest runs each test in its own process: pids set concurrent rigs apart.
    let seed = u64::from(std::process::id());
    (0..1000)
        .map(|i| 20_000 + u16::try_from((seed + i * 7919) % 10_000).unwrap())
        .find(|p| std::net::TcpListener::bind(("127.0.0.1", *p)).is_ok())
        .expect("a free port in 20000-29999")
}

/// One node's files, database and fakes, across restarts.
#[derive(Debug)]
pub struct CrashRig {
    /// The fake Bot API.
    pub tg: FakeTelegram,
    /// The node id (its agent processes carry it).
    pub node: String,
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// An admin client.
    pub client: reqwest::Client,
    dir: tempfile::TempDir,
    home: tempfile::TempDir,
    work: tempfile::TempDir,
    port: u16,
    env: Vec<(String, String)>,
    _db: Option<TestDatabase>,
}

impl CrashRig {
    /// A rig on `backend` (a fresh database), with `extra` settings.
    pub async fn new(backend: Backend, extra: &[(&str, &str)]) -> Self {
        let db = match backend {
            Backend::Postgres => Some(
                tokio::task::spawn_blocking(TestDatabase::empty)
                    .await
                    .unwrap(),
            ),
            Backend::Sqlite => None,
        };
        let tg = FakeTelegram::start("777:crash-token").await;
        let (dir, home, work) = (
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
            tempfile::tempdir().unwrap(),
        );
        let port = rig_port();
        let node = format!("crash-{}", uuid::Uuid::new_v4().simple());
        let mut env: Vec<(String, String)> = [
            ("ORCHESTRA__SERVER__PORT", port.to_string()),
            ("ORCHESTRA__SERVER__HOST", "127.0.0.1".into()),
            (
                "ORCHESTRA__CLAUDE__BINARY",
                test_binary("fake-claude").display().to_string(),
            ),
            ("ORCHESTRA__CLAUDE__HOME", home.path().display().to_string()),
            ("ORCHESTRA__CLAUDE__NODE_ID", node.clone()),
            ("ORCHESTRA__DATABASE__AUTO_MIGRATE", "true".into()),
            ("TelegramEscalation__Enabled", "true".into()),
            ("TelegramEscalation__BotToken", tg.token.clone()),
            ("TelegramEscalation__ChatId", CHAT.to_string()),
            ("ORCHESTRA__TELEGRAM__API_BASE_URL", tg.base_url.clone()),
            (
                "ORCHESTRA__TELEGRAM__ALLOWED_USER_IDS",
                APPROVER.to_string(),
            ),
            ("ORCHESTRA__TELEGRAM__POLL_TIMEOUT_SECS", "1".into()),
            ("ORCHESTRA__TELEGRAM__RETRY_BASE_MS", "20".into()),
            ("ORCHESTRA__TELEGRAM__RETRY_MAX_MS", "100".into()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_owned(), v))
        .collect();
        if let Some(db) = &db {
            env.push(("DB_CONNECTION_STRING".into(), db.url()));
        }
        env.extend(
            extra
                .iter()
                .map(|(k, v)| ((*k).to_owned(), (*v).to_owned())),
        );
        Self {
            tg,
            node,
            base: format!("http://127.0.0.1:{port}"),
            client: crate::auth::client_with_key(crate::auth::TEST_ADMIN_KEY),
            dir,
            home,
            work,
            port,
            env,
            _db: db,
        }
    }

    /// Starts Orchestra; with `crash_at`, it kills itself the first time it reaches that
    /// point.
    pub async fn start(&self, crash_at: Option<&str>) -> ServerProcess {
        let mut env: Vec<(&str, &str)> = self
            .env
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect();
        if let Some(point) = crash_at {
            env.push(("ORCHESTRA_TEST_CRASH_AT", point));
        }
        ServerProcess::start(self.dir.path(), self.port, &env).await
    }

    /// A GET's JSON body (`Null` when the server is gone).
    pub async fn get(&self, path: &str) -> Value {
        match self.client.get(format!("{}{path}", self.base)).send().await {
            Ok(res) => res.json().await.unwrap_or(Value::Null),
            Err(_) => Value::Null,
        }
    }

    /// A POST's status and JSON body; `None` when the server went away before answering.
    pub async fn post(&self, path: &str, body: Value) -> Option<(u16, Value)> {
        let res = self
            .client
            .post(format!("{}{path}", self.base))
            .json(&body)
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        Some((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// A DELETE's status and JSON body; `None` when the server went away before answering.
    pub async fn delete(&self, path: &str) -> Option<(u16, Value)> {
        let res = self
            .client
            .delete(format!("{}{path}", self.base))
            .send()
            .await
            .ok()?;
        let status = res.status().as_u16();
        Some((status, res.json().await.unwrap_or(Value::Null)))
    }

    /// A connection of its own to the rig's database (outside Orchestra), and "100 days
    /// ago" in that backend's syntax.
    fn connection(&self) -> orchestra_db::DbConn {
        crate::raw_sql::connect(self.database_url(), &self.dir.path().join("orchestra.db"))
    }

    /// Runs SQL statements on the rig's database, outside Orchestra ([`crate::raw_sql`]:
    /// `{OLD}` is "100 days ago").
    pub fn sql(&self, statements: &[&str]) {
        crate::raw_sql::execute(&mut self.connection(), statements);
    }

    /// The first column (named `j`, text) of each row `query` returns, read outside
    /// Orchestra.
    pub fn sql_text(&self, query: &str) -> Vec<String> {
        crate::raw_sql::texts(&mut self.connection(), query)
    }

    /// The server's `/metrics` text (empty when it does not answer).
    pub async fn metrics(&self) -> String {
        match self
            .client
            .get(format!("{}/metrics", self.base))
            .send()
            .await
        {
            Ok(res) => res.text().await.unwrap_or_default(),
            Err(_) => String::new(),
        }
    }

    /// A new session in the rig's working directory.
    pub async fn create_session(&self) -> String {
        let (status, s) = self
            .post(
                "/api/sessions",
                json!({"workingDirectory": self.work.path()}),
            )
            .await
            .expect("the server answers");
        assert_eq!(status, 201, "{s}");
        s["id"].as_str().unwrap().to_owned()
    }

    /// Makes the session's agent ask to run `command` with Bash. `None` when the server
    /// went away meanwhile.
    pub async fn ask(&self, session: &str, command: &str) -> Option<(u16, Value)> {
        let prompt = format!("ASK Bash {}", json!({ "command": command }));
        self.post(
            &format!("/api/sessions/{session}/messages"),
            json!({ "prompt": prompt }),
        )
        .await
    }

    /// Waits (20 s at most) for a Pending approval of the session; its id.
    pub async fn pending_approval(&self, session: &str) -> String {
        wait_until(Duration::from_secs(20), "a pending approval", || async {
            self.approvals_of(session)
                .await
                .into_iter()
                .find(|a| a["status"] == "Pending")
                .map(|a| a["id"].as_str().unwrap().to_owned())
        })
        .await
    }

    /// Approves `id` over REST (with `reason`), which must answer 200.
    pub async fn approve(&self, id: &str, reason: Option<&str>) {
        self.decide(id, true, reason).await;
    }

    /// Denies `id` over REST, which must answer 200.
    pub async fn deny(&self, id: &str) {
        self.decide(id, false, None).await;
    }

    async fn decide(&self, id: &str, approved: bool, reason: Option<&str>) {
        let (status, body) = self
            .post(
                &format!("/api/approvals/{id}/approve"),
                json!({"approved": approved, "reason": reason}),
            )
            .await
            .expect("the server answers");
        assert_eq!(status, 200, "{body}");
    }

    /// The session's approvals, newest first.
    pub async fn approvals_of(&self, session: &str) -> Vec<Value> {
        let list = self
            .get(&format!("/api/approvals?sessionId={session}&pageSize=100"))
            .await;
        list["items"].as_array().cloned().unwrap_or_default()
    }

    /// The `TRACEPARENT` each of the session's agent processes was started with, in order.
    pub fn agent_traceparents(&self, session: &str) -> Vec<String> {
        std::fs::read_to_string(
            self.home
                .path()
                .join(".fake-claude")
                .join(format!("{session}.traceparent")),
        )
        .map(|s| s.lines().map(str::to_owned).collect())
        .unwrap_or_default()
    }

    /// Tool calls the fake CLI ran for the session.
    pub fn tools_ran(&self, session: &str) -> usize {
        std::fs::read_to_string(
            self.home
                .path()
                .join(".fake-claude")
                .join(format!("{session}.tools")),
        )
        .map(|s| s.lines().count())
        .unwrap_or(0)
    }

    /// Runs an `orchestra` subcommand with the rig's settings, in its directory; returns the
    /// exit code, stdout and stderr.
    pub async fn orchestra(&self, args: &[&str]) -> (i32, String, String) {
        let mut cmd = std::process::Command::new(crate::binary::orchestra_binary());
        cmd.current_dir(self.dir.path())
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .envs(self.env.iter().map(|(k, v)| (k.as_str(), v.as_str())))
            .args(args);
        let out = tokio::task::spawn_blocking(move || cmd.output().unwrap())
            .await
            .unwrap();
        (
            out.status.code().unwrap_or(-1),
            String::from_utf8_lossy(&out.stdout).into_owned(),
            String::from_utf8_lossy(&out.stderr).into_owned(),
        )
    }

    /// The sessions' working directory.
    pub fn work(&self) -> &std::path::Path {
        self.work.path()
    }

    /// The rig's directory (the SQLite file is `orchestra.db` in it).
    pub fn dir(&self) -> &std::path::Path {
        self.dir.path()
    }

    /// The PostgreSQL database's URL, if the rig runs on PostgreSQL.
    pub fn database_url(&self) -> Option<String> {
        self._db.as_ref().map(TestDatabase::url)
    }

    /// Agent processes of this node still alive.
    pub fn agent_processes(&self) -> usize {
        orchestra_claude::procfs::scan(&self.node).len()
    }
}

/// [`wait_until`], failing with the server's log: what a crash test needs to say why.
pub async fn wait_until_logged<T, F, Fut>(
    server: &ServerProcess,
    within: Duration,
    what: &str,
    check: F,
) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll(within, check, || {
        format!(
            "timed out waiting for {what}; the server's log:\n{}",
            server.log_text()
        )
    })
    .await
}

/// Polls `check` every 20 ms until it returns `Some`, failing after `within` with `what`.
pub async fn wait_until<T, F, Fut>(within: Duration, what: &str, check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    poll(within, check, || format!("timed out waiting for {what}")).await
}

async fn poll<T, F, Fut>(within: Duration, mut check: F, failure: impl Fn() -> String) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + within;
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "{}", failure());
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}
