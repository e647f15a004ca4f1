//! Resilience: retries with exponential backoff and jitter, and the circuit breaker
//! decorator of the notifier port.

mod breaker;
mod retry;

pub use breaker::{BreakerSettings, CircuitBreakerNotifier, CircuitState};
pub use retry::{RetryPolicy, Retryable, retry};
