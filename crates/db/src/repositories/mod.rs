//! The diesel repositories, one file each, and the helpers they share.
//!
//! One code path for both backends.

mod api_keys;
mod approvals;
mod audit;
mod channel_state;
mod deflate;
mod event_tails;
mod grants;
mod leases;
mod retention;
mod sessions;
mod spend;
mod transcripts;
mod turns;

use diesel::prelude::*;
use diesel::sql_types::Text;
use orchestra_application::ports::PageRequest;

pub use api_keys::DieselApiKeyRepository;
pub use approvals::DieselApprovalRepository;
pub use audit::DieselAuditRepository;
pub use channel_state::DieselChannelStateRepository;
pub use event_tails::DieselEventTailRepository;
pub use grants::DieselGrantRepository;
pub use leases::DieselLeaseRepository;
pub use retention::DieselRetentionRepository;
pub use sessions::DieselSessionRepository;
pub use spend::DieselSpendRepository;
pub use transcripts::DieselTranscriptRepository;
pub use turns::DieselTurnRepository;

#[derive(QueryableByName)]
struct IdRow {
    #[diesel(sql_type = Text)]
    id: String,
}

fn offset_limit(page: PageRequest) -> (i64, i64) {
    (
        i64::try_from(page.offset).unwrap_or(i64::MAX),
        i64::from(page.limit),
    )
}

fn to_count(n: i64) -> u64 {
    u64::try_from(n).unwrap_or(0)
}
