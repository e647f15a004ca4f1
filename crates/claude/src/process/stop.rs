//! The stop ladder the real CLI needs: interrupt a running turn, stdin EOF, SIGINT, SIGTERM,
//! then SIGKILL to the process group, each with its own deadline.

use std::sync::atomic::Ordering;
use std::time::Duration;

use nix::sys::signal::Signal;
use orchestra_application::ports::ExitReport;

use super::{CliProcess, lock};
use crate::protocol::ControlRequestBody;

/// Deadlines of the stop ladder.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct StopLadder {
    /// After an interrupt of a running turn, how long to wait for its result.
    pub interrupt_grace: Duration,
    /// After closing stdin.
    pub eof_grace: Duration,
    /// After SIGINT.
    pub sigint_grace: Duration,
    /// After SIGTERM.
    pub sigterm_grace: Duration,
    /// After SIGKILL.
    pub sigkill_grace: Duration,
}

impl Default for StopLadder {
    fn default() -> Self {
        Self {
            interrupt_grace: Duration::from_secs(3),
            eof_grace: Duration::from_secs(3),
            sigint_grace: Duration::from_secs(3),
            sigterm_grace: Duration::from_secs(3),
            sigkill_grace: Duration::from_secs(5),
        }
    }
}

impl CliProcess {
    /// Stops the process (once; later calls get the same report).
    pub(super) async fn run_stop_ladder(&self) -> ExitReport {
        let mut done = self.stopped.lock().await;
        if let Some(report) = done.as_ref() {
            return report.clone();
        }
        self.stopping.store(true, Ordering::SeqCst);
        let ladder = self.ladder;
        'ladder: {
            if self.has_exited() {
                break 'ladder;
            }
            if self.busy.load(Ordering::SeqCst) > 0 {
                self.step("interrupt");
                let _ = tokio::time::timeout(
                    ladder.interrupt_grace,
                    self.control(ControlRequestBody::Interrupt),
                )
                .await;
                let deadline = tokio::time::Instant::now() + ladder.interrupt_grace;
                while self.busy.load(Ordering::SeqCst) > 0
                    && tokio::time::Instant::now() < deadline
                    && !self.has_exited()
                {
                    tokio::time::sleep(Duration::from_millis(10)).await;
                }
            }
            self.step("eof");
            self.stdin.lock().await.take();
            if self.wait_exit(ladder.eof_grace).await {
                break 'ladder;
            }
            self.step("sigint");
            self.signal(Signal::SIGINT, false);
            if self.wait_exit(ladder.sigint_grace).await {
                break 'ladder;
            }
            self.step("sigterm");
            self.signal(Signal::SIGTERM, false);
            if self.wait_exit(ladder.sigterm_grace).await {
                break 'ladder;
            }
            self.step("sigkill");
            tracing::warn!(session.id = %self.session_id, pid = ?self.pid, "agent ignored SIGTERM; killing its process group");
            self.signal(Signal::SIGKILL, true);
            if !self.wait_exit(ladder.sigkill_grace).await {
                tracing::error!(session.id = %self.session_id, pid = ?self.pid, "agent did not exit after SIGKILL");
            }
        }
        // The waiter has reaped it and killed leftovers by the time the report is out.
        let mut rx = self.exited.clone();
        let report =
            match tokio::time::timeout(Duration::from_secs(10), rx.wait_for(Option::is_some)).await
            {
                Ok(Ok(r)) => r.clone().unwrap_or_default(),
                _ => ExitReport {
                    requested: true,
                    stop_step: lock(&self.stop_step).map(str::to_owned),
                    ..Default::default()
                },
            };
        *done = Some(report.clone());
        report
    }
}
