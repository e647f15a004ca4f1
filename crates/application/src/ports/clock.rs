//! The clock port: the one source of "now", and the wall clock behind it.

use chrono::{DateTime, SubsecRound, Utc};

/// The source of "now". Time-dependent rules (deadlines, expiry) read time only through it.
pub trait Clock: Send + Sync + std::fmt::Debug {
    /// The current time.
    fn now(&self) -> DateTime<Utc>;
}

/// The wall clock.
#[derive(Debug, Default, Clone, Copy)]
pub struct SystemClock;

impl Clock for SystemClock {
    #[expect(
        clippy::disallowed_methods,
        reason = "this is the one place that reads the wall clock"
    )]
    fn now(&self) -> DateTime<Utc> {
        // Microsecond precision: what both databases store, so a value read back equals
        // the value written.
        Utc::now().trunc_subsecs(6)
    }
}
