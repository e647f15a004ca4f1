//! Background services. Each logs its start by name (operators grep for these lines) and
//! stops when the shutdown signal flips.

use std::time::Duration;

use std::sync::Arc;

use orchestra_application::approvals::ExpireApprovalsHandler;
use orchestra_application::metrics_names as m;
use orchestra_application::sessions::{
    AgentCatalog, AgentHealthCheck, EscalationDriver, LeaseHeartbeat,
};
use orchestra_telemetry::MetricsHandle;
use tokio::sync::watch;
use tokio::task::JoinHandle;

/// A shutdown signal shared by the background services.
#[derive(Debug, Clone)]
pub struct Shutdown {
    rx: watch::Receiver<bool>,
}

impl Shutdown {
    /// A signal and the switch that flips it.
    pub fn new() -> (watch::Sender<bool>, Self) {
        let (tx, rx) = watch::channel(false);
        (tx, Self { rx })
    }

    /// Resolves once shutdown was asked for.
    pub async fn wait(&mut self) {
        let _ = self.rx.wait_for(|stop| *stop).await;
    }

    /// Whether shutdown was asked for.
    pub fn is_set(&self) -> bool {
        *self.rx.borrow()
    }

    /// The underlying receiver (for services that select on it themselves).
    pub fn receiver(&self) -> watch::Receiver<bool> {
        self.rx.clone()
    }
}

/// Sleeps `period` or until shutdown; returns false on shutdown.
async fn tick(shutdown: &mut Shutdown, period: Duration) -> bool {
    tokio::select! {
        () = tokio::time::sleep(period) => true,
        () = shutdown.wait() => false,
    }
}

/// The approval timeout service: expires Pending approvals past their deadline, every
/// `interval`. Logs "ApprovalTimeoutService started".
pub fn spawn_approval_timeout_service(
    handler: ExpireApprovalsHandler,
    interval: Duration,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(
            service = "ApprovalTimeoutService",
            interval_secs = interval.as_secs(),
            "ApprovalTimeoutService started"
        );
        metrics::gauge!(m::APPROVAL_TIMEOUT_SERVICE_HEALTH).set(1.0);
        loop {
            match handler.sweep().await {
                Ok(report) => {
                    metrics::gauge!(m::APPROVAL_TIMEOUT_SERVICE_HEALTH).set(1.0);
                    metrics::counter!(m::APPROVAL_TIMEOUT_SWEEPS_TOTAL).increment(1);
                    if report.expired > 0 {
                        tracing::info!(
                            expired = report.expired,
                            batches = report.batches,
                            "approval timeout sweep"
                        );
                    }
                }
                Err(err) => {
                    metrics::gauge!(m::APPROVAL_TIMEOUT_SERVICE_HEALTH).set(0.0);
                    tracing::warn!(error = %err, "approval timeout sweep failed; retrying next interval");
                }
            }
            if !tick(&mut shutdown, interval).await {
                break;
            }
        }
        metrics::gauge!(m::APPROVAL_TIMEOUT_SERVICE_HEALTH).set(0.0);
        tracing::info!(
            service = "ApprovalTimeoutService",
            "ApprovalTimeoutService stopped"
        );
    })
}

/// How often the notification outbox looks for due deliveries.
pub const OUTBOX_INTERVAL: Duration = Duration::from_secs(2);

/// The notification outbox: a pass every `interval` retries what the human channel has not
/// got yet.
pub fn spawn_notification_outbox(
    outbox: orchestra_application::approvals::NotificationOutbox,
    interval: Duration,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        if let Err(err) = outbox.take_over_at_start().await {
            tracing::warn!(error = %err, "notification outbox could not take over earlier deliveries; they wait for their lease");
        }
        loop {
            match outbox.pass().await {
                Ok(r) if r.requests + r.updates > 0 => {
                    tracing::info!(
                        requests = r.requests,
                        updates = r.updates,
                        "notification outbox pass"
                    );
                }
                Ok(_) => {}
                Err(err) => {
                    tracing::warn!(error = %err, "notification outbox pass failed; retrying next interval");
                }
            }
            if !tick(&mut shutdown, interval).await {
                break;
            }
        }
    })
}

/// Keeps the Prometheus histograms drained (the exporter runs no thread of its own).
pub fn spawn_metrics_upkeep(handle: MetricsHandle, mut shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        while tick(&mut shutdown, Duration::from_secs(5)).await {
            handle.run_upkeep();
        }
    })
}

/// Agent discovery: finds the CLI and its version at start and every `interval`.
/// Logs "Agent discovery started".
pub fn spawn_agent_discovery(
    catalog: Arc<AgentCatalog>,
    interval: Duration,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(
            service = "AgentDiscovery",
            interval_secs = interval.as_secs(),
            "Agent discovery started"
        );
        loop {
            catalog.refresh().await;
            if !tick(&mut shutdown, interval).await {
                break;
            }
        }
        tracing::info!(service = "AgentDiscovery", "Agent discovery stopped");
    })
}

/// The agent health check: stops agents that went silent mid-turn. Logs
/// "Health check service started".
pub fn spawn_agent_health_check(
    check: AgentHealthCheck,
    interval: Duration,
    mut shutdown: Shutdown,
) -> JoinHandle<()> {
    tokio::spawn(async move {
        tracing::info!(
            service = "HealthCheck",
            interval_secs = interval.as_secs(),
            "Health check service started"
        );
        metrics::gauge!(m::AGENT_HEALTH_CHECK_SERVICE_HEALTH).set(1.0);
        while tick(&mut shutdown, interval).await {
            let report = check.run().await;
            metrics::counter!(m::AGENT_HEALTH_CHECKS_TOTAL).increment(1);
            if report.hung_stopped > 0 {
                tracing::warn!(
                    live = report.live,
                    hung_stopped = report.hung_stopped,
                    "health check stopped hung agents"
                );
            }
        }
        metrics::gauge!(m::AGENT_HEALTH_CHECK_SERVICE_HEALTH).set(0.0);
        tracing::info!(service = "HealthCheck", "Health check service stopped");
    })
}

/// The lease heartbeat: renews this node's leases every third of `node.lease_secs`.
pub fn spawn_lease_heartbeat(heartbeat: LeaseHeartbeat, mut shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move {
        let Some(interval) = heartbeat.interval() else {
            return;
        };
        while tick(&mut shutdown, interval).await {
            heartbeat.beat().await;
        }
    })
}

/// Escalation: decisions (the bus, with the database poll on the same path) reach waiting
/// agents, and prompts nobody answers are parked.
pub fn spawn_escalation(driver: EscalationDriver, mut shutdown: Shutdown) -> JoinHandle<()> {
    tokio::spawn(async move { driver.run(shutdown.wait()).await })
}
