//! The release server as the benchmarks run it: a temp dir, the fake CLI, SQLite or a fresh
//! PostgreSQL database of the test cluster, the test admin key, logs to a file.

use std::path::{Path, PathBuf};
use std::time::{Duration, Instant};

use crate::pg::TestDatabase;

/// A running server; killed when dropped.
#[derive(Debug)]
pub struct BenchServer {
    /// `http://127.0.0.1:<port>`.
    pub base: String,
    /// Its port.
    pub port: u16,
    /// Its OS process id.
    pub pid: u32,
    /// Where sessions may work.
    pub work: PathBuf,
    /// The temp dir (database, logs, the fake CLI's state).
    pub dir: tempfile::TempDir,
    child: tokio::process::Child,
    _db: Option<TestDatabase>,
}

impl BenchServer {
    /// Starts `orchestra` with `fake` as its CLI on `backend` (`sqlite` or `postgres`), with
    /// `extra` environment, and waits until `/health` answers.
    ///
    /// # Panics
    /// On an unknown backend or a server that does not start in 30 s (a benchmark's failure).
    pub async fn start(
        orchestra: &Path,
        fake: &Path,
        backend: &str,
        extra: &[(&str, &str)],
    ) -> Self {
        let dir = tempfile::tempdir().unwrap();
        let work = dir.path().join("work");
        std::fs::create_dir(&work).unwrap();
        let db = match backend {
            "postgres" => Some(
                tokio::task::spawn_blocking(TestDatabase::migrated)
                    .await
                    .unwrap(),
            ),
            "sqlite" => None,
            other => panic!("--backend sqlite|postgres, not {other}"),
        };
        let connection = db.as_ref().map_or_else(
            || format!("Data Source={}", dir.path().join("bench.db").display()),
            TestDatabase::ado_connection_string,
        );
        let port = std::net::TcpListener::bind("127.0.0.1:0")
            .unwrap()
            .local_addr()
            .unwrap()
            .port();
        let log = std::fs::File::create(dir.path().join("server.log")).unwrap();
        let mut cmd = tokio::process::Command::new(orchestra);
        cmd.current_dir(dir.path())
            .env("ORCHESTRA__SERVER__PORT", port.to_string())
            .env("ORCHESTRA__SERVER__HOST", "127.0.0.1")
            .env("ORCHESTRA__SERVER__SHUTDOWN_TIMEOUT_SECS", "2")
            .env("ORCHESTRA__TELEMETRY__LOG_LEVEL", "warn")
            .env(
                "ORCHESTRA__AUTH__BOOTSTRAP_ADMIN_KEY",
                crate::auth::TEST_ADMIN_KEY,
            )
            .env("DB_CONNECTION_STRING", &connection)
            .env("ORCHESTRA__CLAUDE__BINARY", fake)
            .env("ORCHESTRA__CLAUDE__HOME", dir.path())
            .env(
                "ORCHESTRA__CLAUDE__ENV__FAKE_CLAUDE_STATE_DIR",
                dir.path().join("fake-state"),
            )
            .env("ORCHESTRA__CLAUDE__ALLOWED_WORKING_DIRECTORIES", &work);
        for (k, v) in extra {
            cmd.env(k, v);
        }
        let child = cmd
            .stdout(log.try_clone().unwrap())
            .stderr(log)
            .kill_on_drop(true)
            .spawn()
            .unwrap();
        let pid = child.id().unwrap();
        let base = format!("http://127.0.0.1:{port}");
        let client = crate::bin_support::bench_client();
        let deadline = Instant::now() + Duration::from_secs(30);
        while client.get(format!("{base}/health")).send().await.is_err() {
            assert!(Instant::now() < deadline, "server did not start");
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self {
            base,
            port,
            pid,
            work,
            dir,
            child,
            _db: db,
        }
    }

    /// The server's resident memory, KiB.
    ///
    /// # Panics
    /// When `/proc` cannot be read (the server died).
    pub fn rss_kb(&self) -> u64 {
        std::fs::read_to_string(format!("/proc/{}/status", self.pid))
            .unwrap()
            .lines()
            .find_map(|l| l.strip_prefix("VmRSS:"))
            .and_then(|v| v.trim().trim_end_matches(" kB").trim().parse().ok())
            .unwrap()
    }

    /// Lines of the server's log that contain `ERROR` (the first ten are printed to stderr,
    /// so a run that has them says what they were).
    pub fn logged_errors(&self) -> usize {
        let log = std::fs::read_to_string(self.dir.path().join("server.log")).unwrap_or_default();
        let errors: Vec<&str> = log.lines().filter(|l| l.contains("ERROR")).collect();
        for line in errors.iter().take(10) {
            eprintln!("server ERROR: {line}");
        }
        errors.len()
    }

    /// Kills the server and waits for it.
    pub async fn stop(mut self) {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
    }
}
