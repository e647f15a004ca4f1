//! Named points where a test may stop the process the hard way (as `kill -9` would), to
//! show that what was committed before the point survives and nothing after it is done
//! twice. Production never installs a hook: [`point`] is then one atomic load.
//!
//! The test package's `orchestra-under-test` binary installs one that kills the process
//! when `ORCHESTRA_TEST_CRASH_AT` names the point reached.

use std::sync::OnceLock;

/// The agent asked to use a tool; no approval is stored yet.
pub const PERMISSION_ASKED: &str = "permission.asked";
/// The approval is stored; nobody was notified yet.
pub const APPROVAL_INSERTED: &str = "approval.inserted";
/// The human channel has the approval's request.
pub const APPROVAL_NOTIFIED: &str = "approval.notified";
/// A decision is committed (with its audit event); the session is not told yet.
pub const DECISION_COMMITTED: &str = "decision.committed";
/// The answer was written to the agent; it is not yet recorded as acted on.
pub const DECISION_ANSWERED: &str = "decision.answered";

/// Every point, for tests that pick one.
pub const POINTS: [&str; 5] = [
    PERMISSION_ASKED,
    APPROVAL_INSERTED,
    APPROVAL_NOTIFIED,
    DECISION_COMMITTED,
    DECISION_ANSWERED,
];

static HOOK: OnceLock<fn(&'static str)> = OnceLock::new();

/// Installs the hook called at every point. False when one is installed already.
pub fn install(hook: fn(&'static str)) -> bool {
    HOOK.set(hook).is_ok()
}

/// Reached `name`.
pub(crate) fn point(name: &'static str) {
    if let Some(hook) = HOOK.get() {
        hook(name);
    }
}
