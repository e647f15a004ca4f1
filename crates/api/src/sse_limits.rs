//! Caps on Server-Sent Events subscribers, per session and overall: each open stream holds a
//! [`SsePermit`], given back when the stream is dropped (the client went away or the session
//! closed). Past a cap a new subscriber gets 503 `too_many_subscribers`, so open streams
//! cannot grow memory (one broadcast receiver and buffer each) without bound.

use std::collections::HashMap;
use std::sync::{Arc, Mutex, MutexGuard};

use orchestra_domain::SessionId;

/// Streams one session may have open at once.
pub const MAX_SUBSCRIBERS_PER_SESSION: usize = 16;
/// Streams the process serves at once.
pub const MAX_SUBSCRIBERS: usize = 1024;

#[derive(Debug, Default)]
struct Counts {
    total: usize,
    by_session: HashMap<SessionId, usize>,
}

/// The subscriber counts. Cheap to clone.
#[derive(Debug, Clone)]
pub struct SseLimits {
    counts: Arc<Mutex<Counts>>,
    per_session: usize,
    total: usize,
    /// Set when the server stops: every open stream ends (a graceful stop would otherwise
    /// wait its whole timeout for them), and clients reconnect with `Last-Event-ID`.
    closing: Arc<tokio::sync::watch::Sender<bool>>,
}

impl Default for SseLimits {
    fn default() -> Self {
        Self::new(MAX_SUBSCRIBERS_PER_SESSION, MAX_SUBSCRIBERS)
    }
}

/// Which cap was hit.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SseFull {
    /// This session's.
    Session(usize),
    /// The process's.
    Total(usize),
}

impl SseLimits {
    /// Limits of `per_session` streams per session and `total` overall.
    pub fn new(per_session: usize, total: usize) -> Self {
        Self {
            counts: Arc::default(),
            per_session,
            total,
            closing: Arc::new(tokio::sync::watch::channel(false).0),
        }
    }

    /// Ends every open stream (and any opened from now on): the server is stopping.
    pub fn close_all(&self) {
        self.closing.send_replace(true);
    }

    fn counts(&self) -> MutexGuard<'_, Counts> {
        self.counts
            .lock()
            .unwrap_or_else(std::sync::PoisonError::into_inner)
    }

    /// A permit for one more stream of `session`, or the cap it would pass.
    ///
    /// # Errors
    /// [`SseFull`] when a cap is reached.
    pub fn acquire(&self, session: SessionId) -> Result<SsePermit, SseFull> {
        let mut c = self.counts();
        if c.total >= self.total {
            return Err(SseFull::Total(self.total));
        }
        let n = c.by_session.get(&session).copied().unwrap_or(0);
        if n >= self.per_session {
            return Err(SseFull::Session(self.per_session));
        }
        c.total += 1;
        c.by_session.insert(session, n + 1);
        Ok(SsePermit {
            limits: self.clone(),
            session: Some(session),
        })
    }

    /// A permit for one more stream of no session (the approvals inbox): only the
    /// process's cap applies.
    ///
    /// # Errors
    /// [`SseFull::Total`] when the cap is reached.
    pub fn acquire_unscoped(&self) -> Result<SsePermit, SseFull> {
        let mut c = self.counts();
        if c.total >= self.total {
            return Err(SseFull::Total(self.total));
        }
        c.total += 1;
        Ok(SsePermit {
            limits: self.clone(),
            session: None,
        })
    }

    /// Resolves once [`Self::close_all`] was called.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        let mut rx = self.closing.subscribe();
        async move {
            let _ = rx.wait_for(|closing| *closing).await;
        }
    }

    /// Streams open now.
    pub fn open(&self) -> usize {
        self.counts().total
    }
}

/// One open stream; dropping it frees its place.
#[derive(Debug)]
pub struct SsePermit {
    limits: SseLimits,
    session: Option<SessionId>,
}

impl SsePermit {
    /// Resolves once the server closes every stream.
    pub(crate) fn closed(&self) -> impl std::future::Future<Output = ()> + Send + 'static {
        self.limits.closed()
    }
}

impl Drop for SsePermit {
    fn drop(&mut self) {
        let mut c = self.limits.counts();
        c.total = c.total.saturating_sub(1);
        if let Some(session) = self.session
            && let Some(n) = c.by_session.get_mut(&session)
        {
            *n -= 1;
            if *n == 0 {
                c.by_session.remove(&session);
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn caps_hold_and_dropped_streams_free_their_place() {
        let limits = SseLimits::new(2, 3);
        let (a, b) = (SessionId::new(), SessionId::new());
        let a1 = limits.acquire(a).unwrap();
        let _a2 = limits.acquire(a).unwrap();
        assert_eq!(limits.acquire(a).unwrap_err(), SseFull::Session(2));
        let _b1 = limits.acquire(b).unwrap();
        assert_eq!(limits.acquire(b).unwrap_err(), SseFull::Total(3));
        drop(a1);
        assert!(limits.acquire(b).is_ok(), "a place came free");
        assert_eq!(limits.open(), 3 - 1, "the permit above was dropped at once");
        let inbox = limits.acquire_unscoped().unwrap();
        assert_eq!(limits.acquire_unscoped().unwrap_err(), SseFull::Total(3));
        drop(inbox);
        assert_eq!(limits.open(), 2);
    }
}
