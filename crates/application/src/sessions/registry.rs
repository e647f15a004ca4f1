//! The live-process registry: the process slots (a semaphore with a bounded wait), the
//! per-session lifecycle locks, and the map of live processes.

use std::collections::HashMap;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex, MutexGuard};
use std::time::Duration;

use orchestra_domain::SessionId;
use tokio::sync::{OwnedMutexGuard, OwnedSemaphorePermit, Semaphore};

use super::live::Live;
use crate::error::AppError;

#[derive(Debug)]
struct Inner {
    max: usize,
    queue_timeout: Duration,
    permits: Arc<Semaphore>,
    queued: AtomicUsize,
    live: Mutex<HashMap<SessionId, Arc<Live>>>,
    lifecycle: Mutex<HashMap<SessionId, Arc<tokio::sync::Mutex<()>>>>,
    /// Set when Orchestra begins to stop: no process starts after it.
    stopping: AtomicBool,
    /// Process starts under way (each holds a [`StartGuard`]).
    starting: AtomicUsize,
    /// Told when a start ends.
    start_ended: tokio::sync::Notify,
}

/// A process start under way; the shutdown waits for it to end (its process is then in the
/// registry, where the shutdown stops it).
#[derive(Debug)]
pub(crate) struct StartGuard {
    inner: Arc<Inner>,
}

impl Drop for StartGuard {
    fn drop(&mut self) {
        self.inner.starting.fetch_sub(1, Ordering::SeqCst);
        self.inner.start_ended.notify_waiters();
    }
}

/// Live processes, their slots and the sessions' lifecycle locks. Cheap to clone.
#[derive(Debug, Clone)]
pub struct LiveRegistry {
    inner: Arc<Inner>,
}

fn lock<T>(m: &Mutex<T>) -> MutexGuard<'_, T> {
    m.lock().unwrap_or_else(std::sync::PoisonError::into_inner)
}

impl LiveRegistry {
    /// At most `max` live processes; callers wait up to `queue_timeout` for a slot.
    pub fn new(max: usize, queue_timeout: Duration) -> Self {
        Self {
            inner: Arc::new(Inner {
                max: max.max(1),
                queue_timeout,
                permits: Arc::new(Semaphore::new(max.max(1))),
                queued: AtomicUsize::new(0),
                live: Mutex::new(HashMap::new()),
                lifecycle: Mutex::new(HashMap::new()),
                stopping: AtomicBool::new(false),
                starting: AtomicUsize::new(0),
                start_ended: tokio::sync::Notify::new(),
            }),
        }
    }

    /// A process may start: `None` once Orchestra is stopping.
    pub(crate) fn begin_start(&self) -> Option<StartGuard> {
        if self.inner.stopping.load(Ordering::SeqCst) {
            return None;
        }
        self.inner.starting.fetch_add(1, Ordering::SeqCst);
        let guard = StartGuard {
            inner: Arc::clone(&self.inner),
        };
        // Stopping set between the two: the shutdown may not have seen this start.
        (!self.inner.stopping.load(Ordering::SeqCst)).then_some(guard)
    }

    /// No process starts from now on; waits for the starts under way to end, so that every
    /// process is in the registry for the shutdown to stop.
    pub async fn close_for_shutdown(&self) {
        self.inner.stopping.store(true, Ordering::SeqCst);
        loop {
            let ended = self.inner.start_ended.notified();
            tokio::pin!(ended);
            ended.as_mut().enable();
            if self.inner.starting.load(Ordering::SeqCst) == 0 {
                return;
            }
            ended.await;
        }
    }

    /// Whether Orchestra is stopping.
    pub fn is_stopping(&self) -> bool {
        self.inner.stopping.load(Ordering::SeqCst)
    }

    /// Slots in all.
    pub fn capacity(&self) -> usize {
        self.inner.max
    }

    /// Live processes now.
    pub fn live_count(&self) -> usize {
        lock(&self.inner.live).len()
    }

    /// Callers waiting for a slot.
    pub fn queued(&self) -> usize {
        self.inner.queued.load(Ordering::Relaxed)
    }

    /// Waits for a free slot.
    ///
    /// # Errors
    /// `Overloaded` when none frees up within the queue timeout.
    pub async fn acquire_slot(&self) -> Result<OwnedSemaphorePermit, AppError> {
        self.inner.queued.fetch_add(1, Ordering::Relaxed);
        let result = tokio::time::timeout(
            self.inner.queue_timeout,
            Arc::clone(&self.inner.permits).acquire_owned(),
        )
        .await;
        self.inner.queued.fetch_sub(1, Ordering::Relaxed);
        match result {
            Ok(Ok(permit)) => Ok(permit),
            _ => {
                metrics::counter!(crate::metrics_names::AGENT_SLOT_REFUSALS_TOTAL).increment(1);
                Err(AppError::Overloaded {
                    message: format!(
                        "all {} agent process slots are busy and none freed up within {} s; try again later",
                        self.inner.max,
                        self.inner.queue_timeout.as_secs()
                    ),
                })
            }
        }
    }

    /// A free slot now, if there is one.
    pub fn try_acquire_slot(&self) -> Option<OwnedSemaphorePermit> {
        Arc::clone(&self.inner.permits).try_acquire_owned().ok()
    }

    /// The session's lifecycle lock if nobody holds it (idle suspension and eviction never
    /// wait for a session that is busy with something else).
    pub(crate) fn try_lock_lifecycle(&self, id: SessionId) -> Option<OwnedMutexGuard<()>> {
        let m = Arc::clone(lock(&self.inner.lifecycle).entry(id).or_default());
        m.try_lock_owned().ok()
    }

    /// Takes the session's lifecycle lock: create, pause, resume, close, parking, the
    /// continuation after an approval and the watchdog's stop all hold it.
    pub async fn lock_lifecycle(&self, id: SessionId) -> OwnedMutexGuard<()> {
        let m = Arc::clone(lock(&self.inner.lifecycle).entry(id).or_default());
        m.lock_owned().await
    }

    /// Sessions with a lifecycle lock entry.
    pub fn lifecycle_entries(&self) -> usize {
        lock(&self.inner.lifecycle).len()
    }

    /// Drops the lock entries of sessions without a live process that nobody holds or waits
    /// for (a later lifecycle step makes a new one), so the map follows the sessions in use,
    /// not every session ever opened. Returns the entries left.
    pub(crate) fn prune_locks(&self) -> usize {
        let live = lock(&self.inner.live);
        let mut locks = lock(&self.inner.lifecycle);
        // Under the map's lock nobody can be cloning an entry: a count of one is ours alone.
        locks.retain(|id, m| live.contains_key(id) || Arc::strong_count(m) > 1);
        locks.len()
    }

    /// Forgets a closed session's lock.
    pub(crate) fn forget(&self, id: SessionId) {
        lock(&self.inner.lifecycle).remove(&id);
    }

    /// The session's live process.
    pub(crate) fn get(&self, id: SessionId) -> Option<Arc<Live>> {
        lock(&self.inner.live).get(&id).cloned()
    }

    /// Whether the session has a live process.
    pub fn is_live(&self, id: SessionId) -> bool {
        lock(&self.inner.live).contains_key(&id)
    }

    pub(crate) fn insert(&self, id: SessionId, live: Arc<Live>) {
        lock(&self.inner.live).insert(id, live);
    }

    /// Removes the session's process if it is still `live`; false if another replaced it.
    pub(crate) fn remove_if(&self, id: SessionId, live: &Arc<Live>) -> bool {
        let mut map = lock(&self.inner.live);
        if map.get(&id).is_some_and(|l| Arc::ptr_eq(l, live)) {
            map.remove(&id);
            true
        } else {
            false
        }
    }

    pub(crate) fn remove(&self, id: SessionId) {
        lock(&self.inner.live).remove(&id);
    }

    /// Every live process.
    pub(crate) fn all(&self) -> Vec<(SessionId, Arc<Live>)> {
        lock(&self.inner.live)
            .iter()
            .map(|(k, v)| (*k, Arc::clone(v)))
            .collect()
    }

    /// The sessions with a live process.
    pub fn ids(&self) -> Vec<SessionId> {
        lock(&self.inner.live).keys().copied().collect()
    }
}
