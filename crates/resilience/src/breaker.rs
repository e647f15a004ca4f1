//! `CircuitBreakerNotifier`: the failsafe circuit breaker as a decorator of the notifier
//! port. It opens after `consecutive_failures` failures in a row, or when fewer than
//! `1 - failure_rate` of the calls in `window` succeed once `min_calls` were made; it stays
//! open for `open_for`, then lets calls through again (half-open) and closes on a success.
//! While open, notifications fail at once with `CircuitOpen`: approvals stay Pending and
//! decidable over REST. Refusals of single requests (4xx) do not count as failures.

use std::sync::Arc;
use std::sync::atomic::{AtomicU8, Ordering};
use std::time::Duration;

use async_trait::async_trait;
use failsafe::failure_policy::{
    ConsecutiveFailures, FailurePolicy as _, OrElse, SuccessRateOverTimeWindow,
};
use failsafe::futures::CircuitBreaker as _;
use failsafe::{Config, StateMachine, backoff};
use orchestra_application::metrics_names as m;
use orchestra_application::ports::{ApprovalNotifier, NotifierStatus, NotifyError};
use orchestra_domain::ApprovalRequest;

/// Circuit breaker settings (defaults from the operations contract).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct BreakerSettings {
    /// Consecutive failures that open it.
    pub consecutive_failures: u32,
    /// Failure rate over `window` that opens it.
    pub failure_rate: f64,
    /// Calls in `window` before the rate counts.
    pub min_calls: u32,
    /// The rate window (whole seconds).
    pub window: Duration,
    /// How long it stays open.
    pub open_for: Duration,
}

impl Default for BreakerSettings {
    fn default() -> Self {
        Self {
            consecutive_failures: 5,
            failure_rate: 0.5,
            min_calls: 10,
            window: Duration::from_secs(30),
            open_for: Duration::from_secs(30),
        }
    }
}

/// The breaker's state.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum CircuitState {
    /// Calls go through.
    Closed,
    /// Calls fail at once.
    Open,
    /// Calls go through again; the next outcome decides.
    HalfOpen,
}

impl CircuitState {
    /// The contract's spelling.
    pub fn as_str(self) -> &'static str {
        match self {
            Self::Closed => "Closed",
            Self::Open => "Open",
            Self::HalfOpen => "HalfOpen",
        }
    }

    fn gauge(self) -> f64 {
        match self {
            Self::Closed => 0.0,
            Self::Open => 1.0,
            Self::HalfOpen => 2.0,
        }
    }
}

/// Tracks state changes (failsafe has no state getter) for diagnostics and the gauge.
#[derive(Debug, Default)]
struct StateTracker {
    state: AtomicU8,
}

impl StateTracker {
    fn set(&self, state: CircuitState) {
        let old = self.state.swap(state as u8, Ordering::SeqCst);
        metrics::gauge!(m::CIRCUIT_BREAKER_STATE).set(state.gauge());
        if old != state as u8 {
            tracing::warn!(
                circuit = "telegram",
                state = state.as_str(),
                "circuit breaker state changed"
            );
        }
    }

    fn get(&self) -> CircuitState {
        match self.state.load(Ordering::SeqCst) {
            1 => CircuitState::Open,
            2 => CircuitState::HalfOpen,
            _ => CircuitState::Closed,
        }
    }
}

#[derive(Debug, Clone, Default)]
struct Instrument(Arc<StateTracker>);

impl failsafe::Instrument for Instrument {
    fn on_call_rejected(&self) {}

    fn on_open(&self) {
        self.0.set(CircuitState::Open);
    }

    fn on_half_open(&self) {
        self.0.set(CircuitState::HalfOpen);
    }

    fn on_closed(&self) {
        self.0.set(CircuitState::Closed);
    }
}

type Policy =
    OrElse<ConsecutiveFailures<backoff::Constant>, SuccessRateOverTimeWindow<backoff::Constant>>;

/// A notifier behind a circuit breaker.
pub struct CircuitBreakerNotifier {
    inner: Arc<dyn ApprovalNotifier>,
    breaker: StateMachine<Policy, Instrument>,
    tracker: Arc<StateTracker>,
}

impl std::fmt::Debug for CircuitBreakerNotifier {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("CircuitBreakerNotifier")
            .field("state", &self.tracker.get())
            .finish_non_exhaustive()
    }
}

impl CircuitBreakerNotifier {
    /// Wraps `inner`.
    pub fn new(inner: Arc<dyn ApprovalNotifier>, settings: BreakerSettings) -> Self {
        let open = backoff::constant(settings.open_for);
        let policy = failsafe::failure_policy::consecutive_failures(
            settings.consecutive_failures.max(1),
            open.clone(),
        )
        .or_else(failsafe::failure_policy::success_rate_over_time_window(
            (1.0 - settings.failure_rate).clamp(0.0, 1.0),
            settings.min_calls,
            settings.window.max(Duration::from_secs(1)),
            open,
        ));
        let tracker = Arc::new(StateTracker::default());
        tracker.set(CircuitState::Closed);
        let breaker = Config::new()
            .failure_policy(policy)
            .instrument(Instrument(Arc::clone(&tracker)))
            .build();
        Self {
            inner,
            breaker,
            tracker,
        }
    }

    /// The state now.
    pub fn state(&self) -> CircuitState {
        self.tracker.get()
    }

    async fn guarded<T, F>(&self, call: F) -> Result<T, NotifyError>
    where
        F: std::future::Future<Output = Result<T, NotifyError>>,
    {
        // A failure is what makes the channel unusable; a refusal of one request is not.
        let counts = |e: &NotifyError| matches!(e, NotifyError::Failed(_));
        match self.breaker.call_with(counts, call).await {
            Ok(v) => Ok(v),
            Err(failsafe::Error::Rejected) => Err(NotifyError::CircuitOpen),
            Err(failsafe::Error::Inner(e)) => Err(e),
        }
    }
}

#[async_trait]
impl ApprovalNotifier for CircuitBreakerNotifier {
    async fn notify_pending(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        self.guarded(self.inner.notify_pending(approval)).await
    }

    async fn notify_decided(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        self.guarded(self.inner.notify_decided(approval)).await
    }

    async fn notify_expiring(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        self.guarded(self.inner.notify_expiring(approval)).await
    }

    async fn notify_escalated(
        &self,
        approval: &ApprovalRequest,
    ) -> Result<Option<String>, NotifyError> {
        self.guarded(self.inner.notify_escalated(approval)).await
    }

    async fn notify_vote(&self, approval: &ApprovalRequest) -> Result<(), NotifyError> {
        self.guarded(self.inner.notify_vote(approval)).await
    }

    fn status(&self) -> NotifierStatus {
        let mut s = self.inner.status();
        let state = self.state();
        s.circuit_state = state.as_str();
        if state == CircuitState::Open {
            s.healthy = false;
        }
        s
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::AtomicBool;

    use orchestra_domain::{ApprovalId, ApprovalKind, NewApproval};

    use super::*;

    #[derive(Debug, Default)]
    struct Flaky {
        failing: AtomicBool,
        refusing: AtomicBool,
        calls: std::sync::atomic::AtomicU32,
    }

    #[async_trait]
    impl ApprovalNotifier for Flaky {
        async fn notify_pending(
            &self,
            _a: &ApprovalRequest,
        ) -> Result<Option<String>, NotifyError> {
            self.calls.fetch_add(1, Ordering::SeqCst);
            if self.refusing.load(Ordering::SeqCst) {
                return Err(NotifyError::Refused("400".into()));
            }
            if self.failing.load(Ordering::SeqCst) {
                Err(NotifyError::Failed("503".into()))
            } else {
                Ok(None)
            }
        }

        async fn notify_decided(&self, _a: &ApprovalRequest) -> Result<(), NotifyError> {
            Ok(())
        }

        fn status(&self) -> NotifierStatus {
            NotifierStatus {
                channel: "flaky",
                enabled: true,
                healthy: true,
                circuit_state: "Closed",
                last_error: None,
                details: vec![],
            }
        }
    }

    fn approval() -> ApprovalRequest {
        let now = chrono::DateTime::<chrono::Utc>::UNIX_EPOCH;
        ApprovalRequest::open(
            ApprovalId::new(),
            NewApproval {
                session_id: "s".into(),
                agent_id: "a".into(),
                tool_name: "Bash".into(),
                tool_input: serde_json::json!({}),
                tool_use_id: None,
                kind: ApprovalKind::Test,
                description: None,
                session_rule: None,
                risk: Default::default(),
                working_directory: None,
                approvals_needed: 1,
            },
            now,
            now,
        )
    }

    #[tokio::test]
    async fn five_consecutive_failures_open_it_and_it_recovers_after_the_open_period() {
        let flaky = Arc::new(Flaky::default());
        let settings = BreakerSettings {
            open_for: Duration::from_millis(200),
            ..Default::default()
        };
        let breaker = CircuitBreakerNotifier::new(flaky.clone(), settings);
        flaky.failing.store(true, Ordering::SeqCst);
        for _ in 0..5 {
            assert!(matches!(
                breaker.notify_pending(&approval()).await,
                Err(NotifyError::Failed(_))
            ));
        }
        assert_eq!(breaker.state(), CircuitState::Open);
        assert!(matches!(
            breaker.notify_pending(&approval()).await,
            Err(NotifyError::CircuitOpen)
        ));
        assert_eq!(
            flaky.calls.load(Ordering::SeqCst),
            5,
            "an open circuit does not call the channel"
        );
        assert_eq!(breaker.status().circuit_state, "Open");
        flaky.failing.store(false, Ordering::SeqCst);
        tokio::time::sleep(Duration::from_millis(250)).await;
        assert!(
            breaker.notify_pending(&approval()).await.is_ok(),
            "the half-open probe goes through"
        );
        assert_eq!(breaker.state(), CircuitState::Closed);
    }

    #[tokio::test]
    async fn refusals_of_single_requests_do_not_open_it() {
        let flaky = Arc::new(Flaky::default());
        let breaker = CircuitBreakerNotifier::new(flaky.clone(), BreakerSettings::default());
        flaky.refusing.store(true, Ordering::SeqCst);
        for _ in 0..20 {
            assert!(matches!(
                breaker.notify_pending(&approval()).await,
                Err(NotifyError::Refused(_))
            ));
        }
        assert_eq!(breaker.state(), CircuitState::Closed);
    }
}
