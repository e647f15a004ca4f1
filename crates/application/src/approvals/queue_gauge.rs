//! `escalation_queue_size`: the Pending count, read from the database (shared by every
//! node), at a bounded rate.

use std::sync::{Arc, Mutex, PoisonError};
use std::time::Duration;

use orchestra_domain::ApprovalStatus;

use crate::metrics_names as m;
use crate::ports::ApprovalRepository;

/// The shortest time between two counts. Under load every create and decision asks for a
/// refresh (a hundred a second and more); each asked for a `count(*)` over the Pending
/// rows, which on PostgreSQL was a fifth of the database's work in the mixed benchmark.
pub const MIN_REFRESH_INTERVAL: Duration = Duration::from_millis(250);

/// Publishes the Pending count as `escalation_queue_size`. A refresh asked for while a
/// count runs or within [`MIN_REFRESH_INTERVAL`] of the last one is folded into one
/// follow-up count, so the gauge trails the database by at most that interval plus one
/// count, and never misses the last change.
#[derive(Clone)]
pub struct QueueGauge {
    inner: Arc<Inner>,
}

struct Inner {
    repo: Arc<dyn ApprovalRepository>,
    state: Mutex<State>,
}

#[derive(Default)]
struct State {
    /// A counting task is running (counting or waiting out the interval).
    running: bool,
    /// A refresh was asked for since the running task's count started.
    again: bool,
}

impl std::fmt::Debug for QueueGauge {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("QueueGauge").finish_non_exhaustive()
    }
}

impl QueueGauge {
    /// A gauge read from `repo`.
    pub fn new(repo: Arc<dyn ApprovalRepository>) -> Self {
        Self {
            inner: Arc::new(Inner {
                repo,
                state: Mutex::new(State::default()),
            }),
        }
    }

    /// Asks for the gauge to be read again; returns at once.
    pub fn refresh(&self) {
        let Ok(runtime) = tokio::runtime::Handle::try_current() else {
            return;
        };
        {
            let mut state = self.lock();
            if state.running {
                state.again = true;
                return;
            }
            state.running = true;
        }
        let gauge = self.clone();
        runtime.spawn(async move {
            loop {
                gauge.count_once().await;
                tokio::time::sleep(MIN_REFRESH_INTERVAL).await;
                let mut state = gauge.lock();
                if state.again {
                    state.again = false;
                } else {
                    state.running = false;
                    break;
                }
            }
        });
    }

    /// Counts now and sets the gauge (the health tick and tests use this).
    pub async fn count_once(&self) {
        match self
            .inner
            .repo
            .count_by_status(ApprovalStatus::Pending)
            .await
        {
            #[expect(clippy::cast_precision_loss, reason = "a queue size fits f64 exactly")]
            Ok(pending) => metrics::gauge!(m::ESCALATION_QUEUE_SIZE).set(pending as f64),
            Err(err) => tracing::warn!(error = %err, "could not count pending approvals"),
        }
    }

    fn lock(&self) -> std::sync::MutexGuard<'_, State> {
        self.inner
            .state
            .lock()
            .unwrap_or_else(PoisonError::into_inner)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::InMemoryApprovalRepository;

    /// Lets the spawned counting task run until it waits on its timer.
    async fn settle() {
        for _ in 0..10 {
            tokio::task::yield_now().await;
        }
    }

    #[tokio::test(start_paused = true)]
    async fn a_burst_of_refreshes_costs_two_counts_and_the_last_change_is_counted() {
        let repo = Arc::new(InMemoryApprovalRepository::default());
        let gauge = QueueGauge::new(repo.clone());
        for _ in 0..100 {
            gauge.refresh();
        }
        settle().await;
        assert_eq!(repo.counts_taken(), 1, "the first refresh counts at once");
        tokio::time::advance(MIN_REFRESH_INTERVAL).await;
        settle().await;
        assert_eq!(repo.counts_taken(), 2, "the rest fold into one follow-up");
        tokio::time::advance(MIN_REFRESH_INTERVAL * 4).await;
        settle().await;
        assert_eq!(repo.counts_taken(), 2, "nothing asked, nothing counted");
        gauge.refresh();
        settle().await;
        assert_eq!(repo.counts_taken(), 3, "an idle gauge counts at once again");
    }
}
