//! Running a built [`Application`] and stopping it in order, and the signals that stop it.

use anyhow::Context;

use super::Application;

impl Application {
    /// Serves until `stop` resolves, then shuts down in order: stop accepting, let in-flight
    /// requests finish (up to the shutdown timeout), stop the background services.
    ///
    /// # Errors
    /// When the HTTP server fails.
    pub async fn run_until(
        self,
        stop: impl std::future::Future<Output = ()>,
    ) -> anyhow::Result<()> {
        let handle = self.server.handle();
        let mut server = tokio::spawn(self.server);
        let ops = self.ops.map(|(_, s)| {
            let handle = s.handle();
            (handle, tokio::spawn(s))
        });
        let result = tokio::select! {
            r = &mut server => r,
            () = stop => {
                tracing::info!("shutdown requested: draining in-flight requests");
                // Event streams never finish by themselves: end them, or the graceful stop
                // waits its whole timeout for them. Clients reconnect with Last-Event-ID.
                self.sse.close_all();
                handle.stop(true).await;
                server.await
            }
        };
        if let Some((handle, task)) = ops {
            handle.stop(true).await;
            let _ = task.await;
        }
        // Agents are paused (processes stopped with the ladder) so they are resumable after
        // the restart; then the background services stop.
        self.sessions.recovery.shutdown().await;
        let _ = self.stop_background.send(true);
        for task in self.background {
            let _ = task.await;
        }
        self.leases.release_all().await;
        if let Some(listener) = &self.decision_listener {
            listener.stop();
        }
        tracing::info!("Orchestra stopped");
        result
            .context("server task failed")?
            .context("server failed")
    }
}

/// Resolves on SIGTERM or Ctrl-C.
pub async fn shutdown_signal() {
    let ctrl_c = async {
        let _ = tokio::signal::ctrl_c().await;
    };
    #[cfg(unix)]
    let term = async {
        match tokio::signal::unix::signal(tokio::signal::unix::SignalKind::terminate()) {
            Ok(mut s) => {
                s.recv().await;
            }
            Err(err) => {
                tracing::warn!(error = %err, "cannot listen for SIGTERM");
                std::future::pending::<()>().await;
            }
        }
    };
    #[cfg(not(unix))]
    let term = std::future::pending::<()>();
    tokio::select! {
        () = ctrl_c => tracing::info!(signal = "SIGINT", "signal received"),
        () = term => tracing::info!(signal = "SIGTERM", "signal received"),
    }
}
