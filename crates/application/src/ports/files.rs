//! Reading a file of a session's working directory, for an approver to see what a
//! file-writing tool would change.

use async_trait::async_trait;

/// What reading a file within a root found.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FileRead {
    /// A UTF-8 file of at most the size asked for: its real path (links resolved) and text.
    Text {
        /// The path with links resolved.
        path: String,
        /// Its content.
        text: String,
    },
    /// Nothing is there (its directory is within the root).
    Missing,
    /// The path resolves (links followed) outside the root: not read.
    Outside,
    /// Larger than the size asked for: not read.
    TooLarge {
        /// Its size in bytes.
        bytes: u64,
    },
    /// Not UTF-8 text.
    NotText,
    /// A directory or a special file.
    NotAFile,
    /// The operating system refused (permissions, I/O): its message.
    Unreadable(String),
}

/// Reads files of working directories. Never follows a path out of its root.
#[async_trait]
pub trait WorkspaceFiles: Send + Sync + std::fmt::Debug {
    /// Reads `path` (absolute, or relative to `root`) when it lies within `root` once links
    /// are resolved, and is at most `max_bytes` long.
    async fn read_within(&self, root: &str, path: &str, max_bytes: u64) -> FileRead;
}
