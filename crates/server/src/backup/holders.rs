//! Which processes have a file open (Linux `/proc`): a SQLite file a server still uses must
//! not be replaced under it.

use std::fs;
use std::path::{Path, PathBuf};

/// The ids of the processes, other than this one, that have `path` or its WAL companions
/// open. Empty where `/proc` cannot be read.
pub(super) fn processes_holding(path: &Path) -> Vec<u32> {
    let Ok(file) = fs::canonicalize(path) else {
        return Vec::new();
    };
    let names: Vec<PathBuf> = ["", "-wal", "-shm"]
        .iter()
        .map(|s| PathBuf::from(format!("{}{s}", file.display())))
        .collect();
    let me = std::process::id();
    let Ok(procs) = fs::read_dir("/proc") else {
        return Vec::new();
    };
    let mut pids: Vec<u32> = procs
        .filter_map(Result::ok)
        .filter_map(|e| e.file_name().to_str()?.parse::<u32>().ok())
        .filter(|pid| *pid != me)
        .filter(|pid| {
            fs::read_dir(format!("/proc/{pid}/fd")).is_ok_and(|fds| {
                fds.filter_map(Result::ok)
                    .filter_map(|fd| fs::read_link(fd.path()).ok())
                    .any(|target| names.contains(&target))
            })
        })
        .collect();
    pids.sort_unstable();
    pids
}
