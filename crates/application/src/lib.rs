//! Orchestra's application layer: the ports (traits the adapters implement) and the CQRS
//! command and query handlers that use them.
//!
//! **Architecture Invariant:** this crate depends on `orchestra-domain` only. It knows no
//! database, no HTTP, no Telegram and no subprocess; those arrive as `Arc<dyn Port>` built by
//! the server crate. Tests build the same handlers over in-memory fakes ([`testing`]).
//!
//! Commands change state and live next to their queries, one module per feature:
//! [`approvals`], [`sessions`], [`diagnostics`].

pub mod approvals;
pub mod audit;
pub mod chaos;
pub mod diagnostics;
pub mod error;
pub mod escalation;
pub mod grants;
pub mod keys;
pub mod leases;
pub mod metrics_names;
pub mod paging;
pub mod ports;
pub mod retention;
pub mod sessions;
#[cfg(any(test, feature = "testing"))]
pub mod testing;

pub use error::{AppError, ConflictKind, InvalidInput};
