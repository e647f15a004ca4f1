//! The real `orchestra` binary as a child process.

use std::path::PathBuf;
use std::process::Stdio;
use std::time::{Duration, Instant};

use tokio::process::{Child, Command};

/// The `orchestra` binary under test. Integration tests get it from Cargo
/// (`CARGO_BIN_EXE_orchestra-under-test`, always freshly built); other callers may name one
/// with `ORCHESTRA_BIN`.
pub fn orchestra_binary() -> PathBuf {
    if let Ok(bin) = std::env::var("ORCHESTRA_BIN") {
        return PathBuf::from(bin);
    }
    if let Ok(bin) = std::env::var("NEXTEST_BIN_EXE_orchestra-under-test") {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    // target/<profile>/deps/it-<hash> -> target/<profile>/orchestra-under-test
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join("orchestra-under-test");
    assert!(
        bin.is_file(),
        "{} not found: build the workspace's test targets first",
        bin.display()
    );
    bin
}

/// A binary of this test package (`fake-claude`, `loadgen`, ...), freshly built by Cargo.
pub fn test_binary(name: &str) -> PathBuf {
    if let Ok(bin) = std::env::var(format!("NEXTEST_BIN_EXE_{name}")) {
        return PathBuf::from(bin);
    }
    let exe = std::env::current_exe().unwrap();
    let bin = exe
        .parent()
        .and_then(|deps| deps.parent())
        .unwrap()
        .join(name);
    assert!(
        bin.is_file(),
        "{} not found: build the workspace's test targets first",
        bin.display()
    );
    bin
}

/// A running `orchestra serve`.
#[derive(Debug)]
pub struct ServerProcess {
    /// The child.
    pub child: Child,
    /// Where its stdout and stderr go.
    pub log: PathBuf,
    /// Its port.
    pub port: u16,
}

impl ServerProcess {
    /// Starts `orchestra` in `cwd` with `env` (on top of a clean environment plus PATH) and
    /// waits until `/health/live` answers.
    pub async fn start(cwd: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Self {
        Self::start_with_scheme(cwd, port, env, "http").await
    }

    /// The same for a server that serves HTTPS (its certificate is not checked here).
    pub async fn start_tls(cwd: &std::path::Path, port: u16, env: &[(&str, &str)]) -> Self {
        Self::start_with_scheme(cwd, port, env, "https").await
    }

    async fn start_with_scheme(
        cwd: &std::path::Path,
        port: u16,
        env: &[(&str, &str)],
        scheme: &str,
    ) -> Self {
        let log = cwd.join("orchestra.log");
        let out = std::fs::File::create(&log).unwrap();
        let err = out.try_clone().unwrap();
        let mut cmd = Command::new(orchestra_binary());
        cmd.current_dir(cwd)
            .env_clear()
            .env("PATH", std::env::var("PATH").unwrap_or_default())
            .env(
                "ORCHESTRA__AUTH__BOOTSTRAP_ADMIN_KEY",
                crate::auth::TEST_ADMIN_KEY,
            )
            .envs(env.iter().copied())
            .stdin(Stdio::null())
            .stdout(out)
            .stderr(err)
            .kill_on_drop(true);
        let mut child = cmd.spawn().unwrap();
        let client = reqwest::Client::builder()
            .danger_accept_invalid_certs(true)
            .build()
            .unwrap();
        let deadline = Instant::now() + Duration::from_secs(30);
        loop {
            if let Some(status) = child.try_wait().unwrap() {
                panic!(
                    "orchestra exited early with {status}:\n{}",
                    std::fs::read_to_string(&log).unwrap_or_default()
                );
            }
            if client
                .get(format!("{scheme}://127.0.0.1:{port}/health/live"))
                .send()
                .await
                .is_ok()
            {
                break;
            }
            assert!(
                Instant::now() < deadline,
                "orchestra did not start:\n{}",
                std::fs::read_to_string(&log).unwrap_or_default()
            );
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Self { child, log, port }
    }

    /// Sends SIGTERM and waits for the exit; returns the exit code.
    pub async fn terminate(mut self) -> Option<i32> {
        let pid = nix::unistd::Pid::from_raw(i32::try_from(self.child.id().unwrap()).unwrap());
        nix::sys::signal::kill(pid, nix::sys::signal::Signal::SIGTERM).unwrap();
        let status = tokio::time::timeout(Duration::from_secs(30), self.child.wait())
            .await
            .unwrap()
            .unwrap();
        status.code()
    }

    /// Sends SIGKILL (no chance to clean up) and reaps it; returns its log.
    pub async fn kill9(mut self) -> String {
        let _ = self.child.start_kill();
        let _ = self.child.wait().await;
        self.log_text()
    }

    /// Whether the process has exited (by itself: a crash point).
    pub fn exited(&mut self) -> bool {
        self.child.try_wait().ok().flatten().is_some()
    }

    /// Waits (at most `within`) for the process to exit by itself, as a crash point makes
    /// it; returns its log. Fails when it is still running.
    pub async fn wait_exit(mut self, within: Duration) -> String {
        let exited = tokio::time::timeout(within, self.child.wait()).await;
        assert!(
            exited.is_ok(),
            "orchestra is still running after {within:?}:\n{}",
            self.log_text()
        );
        self.log_text()
    }

    /// The log so far.
    pub fn log_text(&self) -> String {
        std::fs::read_to_string(&self.log).unwrap_or_default()
    }
}

/// Runs a shell command and returns (exit code, stdout).
pub async fn sh(command: &str) -> (i32, String) {
    let out = Command::new("bash")
        .args(["-c", command])
        .env("CURL_HOME", crate::auth::curl_home())
        .output()
        .await
        .unwrap();
    (
        out.status.code().unwrap_or(-1),
        String::from_utf8_lossy(&out.stdout).into_owned(),
    )
}
