//! The Claude Code subprocess adapter behind the `AgentRuntime` port: one long-lived `claude`
//! process per live session, driven over stream-json stdin/stdout and the control protocol.

mod process;
pub mod procfs;
pub mod protocol;
mod runtime;
mod transcripts;
mod workspace_files;

pub use process::{CliProcess, ProcessSpec, StopLadder};
pub use runtime::{ClaudeRuntime, ClaudeSettings, RunAs};
pub use transcripts::{ClaudeTranscriptFiles, project_slug};
pub use workspace_files::DiskWorkspaceFiles;
