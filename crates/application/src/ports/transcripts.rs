//! The agent's own record of a conversation: the CLI keeps it in a file on the node that
//! ran it (`HOME/.claude/projects/<cwd>/<session>.jsonl`), which `--resume` reads. A copy in
//! the database lets any node resume any session.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::SessionId;

use super::RepositoryError;

/// The part of a local transcript file read from some offset on.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LocalTranscript {
    /// The file's length up to and including its last complete line.
    pub len: u64,
    /// The complete lines from the offset asked for up to `len`.
    pub bytes: Vec<u8>,
}

/// The agent's transcript files on this node.
#[async_trait]
pub trait TranscriptFiles: Send + Sync + std::fmt::Debug {
    /// The complete lines of the session's local file from byte `offset` on (at most
    /// `max_bytes` of them, whole lines), and the file's complete length; `None` when
    /// the node has no file for the session.
    ///
    /// # Errors
    /// A message when the file exists but cannot be read.
    async fn read_from(
        &self,
        session: SessionId,
        working_directory: &str,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Option<LocalTranscript>, String>;

    /// Writes `bytes` as the session's local file, replacing an older copy, so that
    /// `--resume` finds the conversation.
    ///
    /// # Errors
    /// A message when the file cannot be written.
    async fn restore(
        &self,
        session: SessionId,
        working_directory: &str,
        bytes: Vec<u8>,
    ) -> Result<(), String>;
}

/// Transcripts in the database: append-only parts, each starting where the stored copy
/// ended.
#[async_trait]
pub trait TranscriptRepository: Send + Sync + std::fmt::Debug {
    /// The stored copy's length in bytes (0 when nothing is stored).
    ///
    /// # Errors
    /// `Unavailable`.
    async fn stored_len(&self, session: SessionId) -> Result<u64, RepositoryError>;

    /// Stores `bytes` as the part that starts at `offset` (the stored length the caller
    /// read). `false` when a part starting there is stored already: another capture was
    /// first, and nothing changed.
    ///
    /// # Errors
    /// `Unavailable`; `NotFound` when the session does not exist.
    async fn append(
        &self,
        session: SessionId,
        offset: u64,
        bytes: Vec<u8>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError>;

    /// The whole stored copy.
    ///
    /// # Errors
    /// `Unavailable`; `Corrupt` when a part cannot be read back.
    async fn load(&self, session: SessionId) -> Result<Vec<u8>, RepositoryError>;
}
