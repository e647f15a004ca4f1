//! Ports: the traits adapters implement. Every port is object-safe and used as
//! `Arc<dyn Port>`; every fallible method documents its error contract.

mod audit;
mod clock;
mod database;
mod event_tails;
mod files;
mod grants;
mod keys;
mod leases;
mod notifier;
mod repository;
mod retention;
mod runtime;
mod spend;
mod trace_context;
mod transcripts;

pub use audit::AuditRepository;
pub use clock::{Clock, SystemClock};
pub use database::{DatabaseProbe, DatabaseStatus};
pub use event_tails::{EventTailRepository, StoredTail};
pub use files::{FileRead, WorkspaceFiles};
pub use grants::{GrantRepository, RevokeOutcome};
pub use keys::ApiKeyRepository;
pub use leases::{LeaseHolder, LeaseRepository};
pub use notifier::{
    ApprovalNotifier, DisabledNotifier, InboundChannel, NotifierStatus, NotifyError, WebhookError,
};
pub use repository::{
    ApprovalFilter, ApprovalRepository, ChannelStateRepository, DecideOutcome, Page, PageRequest,
    RepositoryError, SessionFilter, SessionRepository, TurnRepository, VoteOutcome,
};
pub use retention::{
    ArchiveFile, ExpiredRow, RetentionArchive, RetentionKind, RetentionRepository,
};
pub use runtime::{
    AgentEvent, AgentInstallation, AgentLaunch, AgentProcess, AgentRuntime, ExitReport,
    OrphanReport, PermissionAnswer, PermissionDenial, RuntimeError, SpawnedAgent, TurnReport,
};
pub use spend::SpendRepository;
pub use trace_context::{NoTraceContext, TraceContext};
pub use transcripts::{LocalTranscript, TranscriptFiles, TranscriptRepository};
