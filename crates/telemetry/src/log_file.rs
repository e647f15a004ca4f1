//! The log file (`telemetry.log_file`, `--log-file`): lines go to one fixed path (the
//! deployment guide greps `/var/log/orchestra/api.log`), which is renamed to `.1`, `.2`, ...
//! once it passes a size, keeping a bounded number. Writes happen on a thread of their own
//! (`tracing-appender`), never on the async runtime; lines are dropped, and counted by the
//! appender, only if that thread falls 128,000 lines behind.

use std::path::PathBuf;

use file_rotate::compression::Compression;
use file_rotate::suffix::AppendCount;
use file_rotate::{ContentLimit, FileRotate};
use tracing_appender::non_blocking::{NonBlocking, WorkerGuard};

/// Where and how much.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct LogFileSettings {
    /// The file lines are appended to.
    pub path: PathBuf,
    /// Rotated once it is larger than this.
    pub max_bytes: u64,
    /// Rotated files kept (`path.1` is the newest).
    pub keep: usize,
}

/// The writer, and the guard that flushes it when dropped.
///
/// # Errors
/// When the file's directory cannot be made.
pub fn open(settings: &LogFileSettings) -> std::io::Result<(NonBlocking, WorkerGuard)> {
    if let Some(dir) = settings.path.parent()
        && !dir.as_os_str().is_empty()
    {
        std::fs::create_dir_all(dir)?;
    }
    let max = usize::try_from(settings.max_bytes).unwrap_or(usize::MAX);
    let mut options = std::fs::OpenOptions::new();
    options.read(true).create(true).append(true);
    std::os::unix::fs::OpenOptionsExt::mode(&mut options, 0o640);
    // `FileRotate` drops every line of a file it cannot open, silently: fail at start instead.
    options.open(&settings.path)?;
    let file = FileRotate::new(
        &settings.path,
        AppendCount::new(settings.keep),
        ContentLimit::BytesSurpassed(max),
        Compression::None,
        Some(options),
    );
    Ok(tracing_appender::non_blocking(file))
}
