//! Retries with exponential backoff and jitter, honouring a server's `retry_after`.

use std::future::Future;
use std::time::Duration;

/// How to retry.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct RetryPolicy {
    /// Attempts in all (the first call included).
    pub attempts: u32,
    /// The first delay.
    pub base: Duration,
    /// The longest delay.
    pub max: Duration,
    /// The longest `retry_after` honoured; longer ones fail the call at once.
    pub max_retry_after: Duration,
}

impl Default for RetryPolicy {
    /// 3 attempts, 1 s doubling up to 16 s, with jitter.
    fn default() -> Self {
        Self {
            attempts: 3,
            base: Duration::from_secs(1),
            max: Duration::from_secs(16),
            max_retry_after: Duration::from_secs(60),
        }
    }
}

impl RetryPolicy {
    /// The delay before retry number `retry` (1-based): `base * 2^(retry-1)`, capped at
    /// `max`, with equal jitter (between half and all of it).
    pub fn delay(&self, retry: u32) -> Duration {
        let exp = self
            .base
            .saturating_mul(1u32 << retry.saturating_sub(1).min(20));
        let capped = exp.min(self.max);
        let half = capped / 2;
        half + capped.mul_f64(fastrand::f64() * 0.5)
    }
}

/// Whether an error is worth another attempt.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Retryable {
    /// No: it will fail the same way.
    No,
    /// Yes, after the policy's backoff.
    Yes,
    /// Yes, after the server's `retry_after`.
    After(Duration),
}

/// Runs `op` (given the attempt number, 1-based) until it succeeds, the error is not
/// retryable, or the attempts are used up. `on_retry` hears of every retry and its delay.
///
/// # Errors
/// The last error.
pub async fn retry<T, E, F, Fut>(
    policy: &RetryPolicy,
    mut op: F,
    classify: impl Fn(&E) -> Retryable,
    mut on_retry: impl FnMut(u32, Duration, &E),
) -> Result<T, E>
where
    F: FnMut(u32) -> Fut,
    Fut: Future<Output = Result<T, E>>,
{
    let attempts = policy.attempts.max(1);
    let mut attempt = 1;
    loop {
        match op(attempt).await {
            Ok(v) => return Ok(v),
            Err(e) if attempt >= attempts => return Err(e),
            Err(e) => {
                let delay = match classify(&e) {
                    Retryable::No => return Err(e),
                    Retryable::Yes => policy.delay(attempt),
                    Retryable::After(d) if d > policy.max_retry_after => return Err(e),
                    Retryable::After(d) => d,
                };
                on_retry(attempt, delay, &e);
                tokio::time::sleep(delay).await;
                attempt += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use std::sync::atomic::{AtomicU32, Ordering};

    use super::*;

    fn fast() -> RetryPolicy {
        RetryPolicy {
            attempts: 3,
            base: Duration::from_millis(1),
            max: Duration::from_millis(16),
            max_retry_after: Duration::from_secs(1),
        }
    }

    #[test]
    fn delays_double_up_to_the_cap_with_jitter() {
        let p = RetryPolicy::default();
        for (retry, full) in [(1, 1), (2, 2), (3, 4), (4, 8), (5, 16), (9, 16)] {
            let d = p.delay(retry);
            assert!(
                d >= Duration::from_secs(full) / 2 && d <= Duration::from_secs(full),
                "retry {retry}: {d:?}"
            );
        }
    }

    #[tokio::test]
    async fn a_transient_failure_is_retried_until_success() {
        let calls = AtomicU32::new(0);
        let mut retries = Vec::new();
        let r: Result<u32, &str> = retry(
            &fast(),
            |n| {
                calls.fetch_add(1, Ordering::SeqCst);
                async move { if n < 3 { Err("503") } else { Ok(n) } }
            },
            |_| Retryable::Yes,
            |n, _, _| retries.push(n),
        )
        .await;
        assert_eq!(r, Ok(3));
        assert_eq!(retries, vec![1, 2]);
    }

    #[tokio::test]
    async fn attempts_are_bounded_and_permanent_errors_are_not_retried() {
        let calls = AtomicU32::new(0);
        let r: Result<(), &str> = retry(
            &fast(),
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("500") }
            },
            |_| Retryable::Yes,
            |_, _, _| {},
        )
        .await;
        assert_eq!((r, calls.load(Ordering::SeqCst)), (Err("500"), 3));
        let calls = AtomicU32::new(0);
        let _: Result<(), &str> = retry(
            &fast(),
            |_| {
                calls.fetch_add(1, Ordering::SeqCst);
                async { Err("400") }
            },
            |_| Retryable::No,
            |_, _, _| {},
        )
        .await;
        assert_eq!(calls.load(Ordering::SeqCst), 1);
    }

    #[tokio::test]
    async fn retry_after_is_honoured_and_an_excessive_one_gives_up() {
        let started = std::time::Instant::now();
        let r: Result<u32, &str> = retry(
            &fast(),
            |n| async move { if n == 1 { Err("429") } else { Ok(n) } },
            |_| Retryable::After(Duration::from_millis(200)),
            |_, d, _| assert_eq!(d, Duration::from_millis(200)),
        )
        .await;
        assert_eq!(r, Ok(2));
        assert!(started.elapsed() >= Duration::from_millis(200));
        let r: Result<(), &str> = retry(
            &fast(),
            |_| async { Err("429") },
            |_| Retryable::After(Duration::from_secs(3600)),
            |_, _, _| {},
        )
        .await;
        assert_eq!(r, Err("429"));
    }
}
