//! Orchestra's domain: the two aggregates everything else builds on.
//!
//! * [`session::AgentSession`]: one Claude Code conversation run by Orchestra, with its
//!   lifecycle (Active / Paused / Closed / Failed) and running totals (cost, duration,
//!   message count).
//! * [`approval::ApprovalRequest`]: a human decision an agent is waiting for, with its
//!   lifecycle (Pending / Approved / Rejected / Expired / Cancelled).
//!
//! **Architecture Invariant:** this crate does no I/O, knows no async runtime, no database
//! and no wire format. Every state change goes through a method here that enforces the
//! transition rules; adapters only store what these methods produce.

pub mod access;
pub mod acted_on;
pub mod approval;
pub mod file_edit;
pub mod grant;
pub mod ids;
pub mod notification;
pub mod policy;
pub mod session;
pub mod text;
pub mod turn;
pub mod vote;

pub use access::{ApiKey, KeyNameError, ParseRoleError, Principal, Role};
pub use acted_on::{ActedOn, ParseActedOnError};
pub use approval::{
    ApprovalKind, ApprovalRequest, ApprovalScope, ApprovalSnapshot, ApprovalStatus,
    ApprovalTimeoutPolicy, DecideApprovalError, Decision, DecisionOutcome, NewApproval,
};
pub use grant::{Grant, GrantRuleError, GrantState, GrantTerms, Revocation};
pub use ids::{ApprovalId, ParseIdError, SessionId, TurnId};
pub use notification::{NotificationState, ParseNotificationStateError};
pub use session::{
    AgentSession, NewSession, PermissionMode, SessionSnapshot, SessionStatus, SessionTotals,
    TransitionError, TurnTotals,
};
pub use text::{BoundedText, TextError};
pub use turn::{Turn, TurnOutcome, TurnSnapshot, TurnStatus};
pub use vote::{Vote, VoteStep};
