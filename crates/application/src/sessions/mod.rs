//! Agent sessions: queries here; the lifecycle commands arrive with the agent runtime.

mod query;

pub use query::{CountSessionsHandler, GetSessionHandler, ListSessions, ListSessionsHandler};
