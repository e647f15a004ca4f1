//! The Prometheus recorder. Every contract metric is described and registered at install
//! time, so `/metrics` lists them all (with zero values) before anything happened.

use std::sync::OnceLock;

use metrics::{Unit, describe_counter, describe_gauge, describe_histogram};
use metrics_exporter_prometheus::{Matcher, PrometheusBuilder, PrometheusHandle};
use orchestra_application::metrics_names as m;

/// Renders the Prometheus text exposition. Cheap to clone.
#[derive(Clone)]
pub struct MetricsHandle {
    inner: PrometheusHandle,
}

impl std::fmt::Debug for MetricsHandle {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("MetricsHandle")
    }
}

impl MetricsHandle {
    /// The current exposition, with process metrics refreshed.
    pub fn render(&self) -> String {
        super::publish_process_metrics();
        self.inner.render()
    }

    /// Drains histogram buffers; run it periodically (the exporter has no listener thread).
    pub fn run_upkeep(&self) {
        self.inner.run_upkeep();
    }
}

static HANDLE: OnceLock<Result<MetricsHandle, String>> = OnceLock::new();

const LATENCY_BUCKETS: &[f64] = &[
    0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0,
];
const HUMAN_BUCKETS: &[f64] = &[
    1.0, 5.0, 15.0, 30.0, 60.0, 120.0, 300.0, 600.0, 1800.0, 3600.0, 7200.0,
];
const TURN_BUCKETS: &[f64] = &[
    0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0, 60.0, 120.0, 300.0, 600.0,
];

/// Installs the process-wide recorder once and returns its handle (later calls return the
/// same handle, so several apps in one test process share it).
///
/// # Errors
/// When another recorder was installed by someone else.
pub fn install_metrics(version: &str) -> anyhow::Result<MetricsHandle> {
    let result = HANDLE.get_or_init(|| {
        super::process::mark_start();
        let builder = PrometheusBuilder::new()
            .set_buckets_for_metric(
                Matcher::Full(m::HTTP_REQUEST_DURATION_SECONDS.into()),
                LATENCY_BUCKETS,
            )
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(m::DB_QUERY_DURATION_SECONDS.into()),
                    LATENCY_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(m::TELEGRAM_API_DURATION_SECONDS.into()),
                    LATENCY_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(m::ESCALATION_RESPONSE_TIME_SECONDS.into()),
                    HUMAN_BUCKETS,
                )
            })
            .and_then(|b| {
                b.set_buckets_for_metric(
                    Matcher::Full(m::AGENT_TURN_DURATION_SECONDS.into()),
                    TURN_BUCKETS,
                )
            })
            .map_err(|e| e.to_string())?;
        let handle = builder.install_recorder().map_err(|e| e.to_string())?;
        describe_all();
        register_all(version);
        Ok(MetricsHandle { inner: handle })
    });
    result
        .clone()
        .map_err(|e| anyhow::anyhow!("cannot install the metrics recorder: {e}"))
}

fn describe_all() {
    describe_counter!(
        m::CONSOLE_SIGN_INS_TOTAL,
        "Console sign-ins, by outcome (ok, invalid_key, expired_form)."
    );
    describe_counter!(
        m::CONSOLE_CSRF_REFUSALS_TOTAL,
        "Console requests refused for a missing or wrong CSRF token."
    );
    describe_gauge!(
        m::ESCALATION_QUEUE_SIZE,
        "Approvals waiting for a human decision (Pending)."
    );
    describe_counter!(m::ESCALATION_QUEUE_ENQUEUE_TOTAL, "Approvals created.");
    describe_counter!(
        m::ESCALATION_QUEUE_DEQUEUE_TOTAL,
        "Approvals that left Pending, any outcome."
    );
    describe_counter!(
        m::ESCALATION_APPROVALS_ACCEPTED_TOTAL,
        "Approvals approved by a human."
    );
    describe_counter!(
        m::ESCALATION_APPROVALS_REJECTED_TOTAL,
        "Approvals rejected by a human."
    );
    describe_counter!(
        m::ESCALATION_APPROVALS_TIMEOUT_TOTAL,
        "Approvals expired without a decision."
    );
    describe_counter!(
        m::ESCALATION_APPROVALS_CANCELLED_TOTAL,
        "Approvals withdrawn before a decision."
    );
    describe_histogram!(
        m::ESCALATION_RESPONSE_TIME_SECONDS,
        Unit::Seconds,
        "Time from approval request to decision."
    );
    describe_gauge!(
        m::APPROVAL_TIMEOUT_SERVICE_HEALTH,
        "1 while the approval timeout service sweeps successfully."
    );
    describe_counter!(
        m::APPROVAL_TIMEOUT_SWEEPS_TOTAL,
        "Sweeps run by the approval timeout service."
    );

    describe_counter!(
        m::ESCALATION_NOTIFICATIONS_FAILED_TOTAL,
        "Failed deliveries to the human channel, by message; the outbox retries each."
    );
    describe_counter!(
        m::ESCALATION_DECISIONS_RECOVERED_TOTAL,
        "Decisions nobody had acted on that the recovery pass carried out."
    );
    describe_counter!(
        m::ESCALATION_DECISIONS_UNCERTAIN_TOTAL,
        "Decisions whose delivery to the agent a stopped node interrupted (not sent again)."
    );
    describe_counter!(
        m::ESCALATION_DECISION_ACTION_ERRORS_TOTAL,
        "Decisions that could not be claimed or recorded as acted on; retried."
    );
    describe_gauge!(
        m::ESCALATION_NOTIFICATIONS_PENDING,
        "Approvals with a delivery to the human channel still due."
    );
    describe_counter!(
        m::TELEGRAM_PLAIN_TEXT_FALLBACKS_TOTAL,
        "Messages Telegram refused as HTML, sent again as plain text."
    );
    describe_counter!(
        m::CHANNEL_DECISIONS_REFUSED_TOTAL,
        "Chat button presses refused because of who pressed (viewer, not allowed)."
    );
    describe_counter!(
        m::TELEGRAM_API_REQUESTS_TOTAL,
        "Telegram Bot API calls attempted."
    );
    describe_counter!(
        m::TELEGRAM_API_FAILURES_TOTAL,
        "Telegram Bot API calls that failed."
    );
    describe_counter!(
        m::TELEGRAM_API_RETRY_ATTEMPTS_TOTAL,
        "Telegram Bot API calls retried."
    );
    describe_histogram!(
        m::TELEGRAM_API_DURATION_SECONDS,
        Unit::Seconds,
        "Telegram Bot API call duration."
    );
    describe_gauge!(
        m::TELEGRAM_SERVICE_HEALTH,
        "1 when Telegram is healthy or disabled, 0 when failing."
    );
    describe_gauge!(
        m::CIRCUIT_BREAKER_STATE,
        "Telegram circuit breaker: 0 closed, 1 open, 2 half-open."
    );

    describe_counter!(
        m::HTTP_REQUESTS_TOTAL,
        "HTTP requests by method, route and status."
    );
    describe_histogram!(
        m::HTTP_REQUEST_DURATION_SECONDS,
        Unit::Seconds,
        "HTTP request duration by method, route and status."
    );
    describe_gauge!(m::HTTP_REQUESTS_IN_FLIGHT, "HTTP requests being served.");

    describe_gauge!(m::AGENT_SESSIONS, "Agent sessions by status.");
    describe_counter!(m::AGENT_SESSIONS_CREATED_TOTAL, "Agent sessions created.");
    describe_counter!(m::AGENT_TURNS_TOTAL, "Agent turns finished, by outcome.");
    describe_histogram!(
        m::AGENT_TURN_DURATION_SECONDS,
        Unit::Seconds,
        "Agent turn duration."
    );
    describe_gauge!(
        m::AGENT_COST_USD_TOTAL,
        "Cost reported by the CLI, in US dollars, since start."
    );
    describe_counter!(
        m::AGENT_PROCESS_SPAWNS_TOTAL,
        "Claude Code CLI processes spawned."
    );
    describe_counter!(
        m::AGENT_PROCESS_SPAWN_FAILURES_TOTAL,
        "Claude Code CLI processes that failed to spawn."
    );
    describe_counter!(
        m::AGENT_PROCESS_CRASHES_TOTAL,
        "Claude Code CLI processes that exited unexpectedly."
    );
    describe_gauge!(m::AGENT_PROCESSES_LIVE, "Claude Code CLI processes alive.");
    describe_counter!(
        m::AGENT_STREAM_GARBAGE_LINES_TOTAL,
        "stream-json lines that could not be parsed."
    );
    describe_counter!(
        m::AUDIT_APPEND_FAILURES_TOTAL,
        "Audit events that could not be written (the action itself was done)."
    );
    describe_gauge!(
        m::AGENT_HEALTH_CHECK_SERVICE_HEALTH,
        "1 while the agent health check service runs."
    );
    describe_gauge!(
        m::AGENT_DISCOVERY_AGENTS,
        "Agents (CLI installations) found by discovery."
    );

    describe_gauge!(
        m::DB_POOL_CONNECTIONS_ACTIVE,
        "Pooled database connections in use."
    );
    describe_gauge!(
        m::DB_POOL_CONNECTIONS_IDLE,
        "Pooled database connections idle."
    );
    describe_gauge!(m::DB_POOL_MAX_SIZE, "Maximum database pool size.");
    describe_gauge!(m::DB_UP, "1 when the database answered the last probe.");
    describe_histogram!(
        m::DB_QUERY_DURATION_SECONDS,
        Unit::Seconds,
        "Repository call duration, by operation."
    );
    describe_counter!(
        m::DB_ERRORS_TOTAL,
        "Repository calls that failed, by operation."
    );

    describe_gauge!(
        m::PROCESS_RESIDENT_MEMORY_BYTES,
        Unit::Bytes,
        "Resident memory size in bytes."
    );
    describe_gauge!(
        m::PROCESS_VIRTUAL_MEMORY_BYTES,
        Unit::Bytes,
        "Virtual memory size in bytes."
    );
    describe_gauge!(
        m::PROCESS_CPU_SECONDS_TOTAL,
        Unit::Seconds,
        "User and system CPU time spent, in seconds."
    );
    describe_gauge!(m::PROCESS_OPEN_FDS, "Open file descriptors.");
    describe_gauge!(m::PROCESS_MAX_FDS, "Maximum open file descriptors.");
    describe_gauge!(m::PROCESS_THREADS, "OS threads.");
    describe_gauge!(
        m::PROCESS_START_TIME_SECONDS,
        Unit::Seconds,
        "Start time of the process since the Unix epoch."
    );
    describe_gauge!(
        m::ORCHESTRA_BUILD_INFO,
        "Always 1; labelled with the version."
    );
    describe_gauge!(
        m::ORCHESTRA_UPTIME_SECONDS,
        Unit::Seconds,
        "Seconds since the process started."
    );
    describe_counter!(m::RETENTION_RUNS_TOTAL, "Retention runs, by outcome.");
    describe_counter!(
        m::RETENTION_ROWS_DELETED_TOTAL,
        "Rows retention archived and deleted, by table."
    );
    describe_histogram!(
        m::RETENTION_BATCH_SECONDS,
        Unit::Seconds,
        "How long each retention delete transaction held the write lock."
    );
}

/// Registers the unlabelled metrics with their zero values so they are scraped from the start.
fn register_all(version: &str) {
    for name in [
        m::ESCALATION_QUEUE_ENQUEUE_TOTAL,
        m::ESCALATION_QUEUE_DEQUEUE_TOTAL,
        m::ESCALATION_APPROVALS_ACCEPTED_TOTAL,
        m::ESCALATION_APPROVALS_REJECTED_TOTAL,
        m::ESCALATION_APPROVALS_TIMEOUT_TOTAL,
        m::ESCALATION_APPROVALS_CANCELLED_TOTAL,
        m::APPROVAL_TIMEOUT_SWEEPS_TOTAL,
        m::TELEGRAM_API_REQUESTS_TOTAL,
        m::TELEGRAM_API_FAILURES_TOTAL,
        m::TELEGRAM_API_RETRY_ATTEMPTS_TOTAL,
        m::AGENT_SESSIONS_CREATED_TOTAL,
        m::AGENT_PROCESS_SPAWNS_TOTAL,
        m::AGENT_PROCESS_SPAWN_FAILURES_TOTAL,
        m::AGENT_PROCESS_CRASHES_TOTAL,
        m::AGENT_STREAM_GARBAGE_LINES_TOTAL,
        m::AUDIT_APPEND_FAILURES_TOTAL,
        // What the dashboard and the alert rules read: a series that is there from the start
        // shows 0, not "No data", and an increase() over it can fire.
        m::AGENT_SESSIONS_WOKEN_TOTAL,
        m::AGENT_SLOT_REFUSALS_TOTAL,
        m::ESCALATION_NOTIFICATIONS_FAILED_TOTAL,
        m::TELEGRAM_PLAIN_TEXT_FALLBACKS_TOTAL,
        m::ESCALATION_DECISIONS_RECOVERED_TOTAL,
        m::ESCALATION_DECISIONS_UNCERTAIN_TOTAL,
        m::DB_ERRORS_TOTAL,
        m::NODE_SESSION_LEASE_REFUSALS_TOTAL,
        m::NODE_SESSION_LEASES_LOST_TOTAL,
        m::NODE_DECISION_NOTIFICATIONS_TOTAL,
        m::NODE_DECISION_LISTENER_ERRORS_TOTAL,
        m::CONSOLE_CSRF_REFUSALS_TOTAL,
    ] {
        metrics::counter!(name).increment(0);
    }
    for reason in ["idle", "evicted", "shutdown"] {
        metrics::counter!(m::AGENT_SESSIONS_SUSPENDED_TOTAL, "reason" => reason).increment(0);
    }
    for outcome in ["forwarded", "unreachable"] {
        metrics::counter!(m::NODE_REQUESTS_FORWARDED_TOTAL, "outcome" => outcome).increment(0);
    }
    for status in orchestra_domain::TurnStatus::ALL {
        metrics::counter!(m::AGENT_TURNS_TOTAL, "outcome" => status.as_str()).increment(0);
    }
    for outcome in ["ok", "error"] {
        metrics::counter!(m::RETENTION_RUNS_TOTAL, "outcome" => outcome).increment(0);
    }
    for kind in orchestra_application::ports::RetentionKind::ALL {
        metrics::counter!(m::RETENTION_ROWS_DELETED_TOTAL, "table" => kind.table()).increment(0);
    }
    for name in [
        m::ESCALATION_QUEUE_SIZE,
        m::APPROVAL_TIMEOUT_SERVICE_HEALTH,
        m::CIRCUIT_BREAKER_STATE,
        m::HTTP_REQUESTS_IN_FLIGHT,
        m::AGENT_COST_USD_TOTAL,
        m::AGENT_PROCESSES_LIVE,
        m::AGENT_HEALTH_CHECK_SERVICE_HEALTH,
        m::AGENT_DISCOVERY_AGENTS,
        m::DB_POOL_CONNECTIONS_ACTIVE,
        m::DB_POOL_CONNECTIONS_IDLE,
        m::DB_POOL_MAX_SIZE,
        m::DB_UP,
    ] {
        metrics::gauge!(name).set(0.0);
    }
    metrics::gauge!(m::TELEGRAM_SERVICE_HEALTH).set(1.0);
    for status in orchestra_domain::SessionStatus::ALL {
        metrics::gauge!(m::AGENT_SESSIONS, "status" => status.as_str()).set(0.0);
    }
    for name in [
        m::ESCALATION_RESPONSE_TIME_SECONDS,
        m::TELEGRAM_API_DURATION_SECONDS,
        m::AGENT_TURN_DURATION_SECONDS,
    ] {
        // Registering creates the series; an empty histogram renders its zero buckets.
        let _ = metrics::histogram!(name);
    }
    metrics::gauge!(m::ORCHESTRA_BUILD_INFO, "version" => version.to_owned()).set(1.0);
    super::publish_process_metrics();
}
