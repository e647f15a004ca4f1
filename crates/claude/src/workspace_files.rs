//! [`WorkspaceFiles`] on the local disk: a file of a working directory, read only when it
//! lies within it once links are resolved.

use std::io::Read;
use std::os::fd::AsRawFd;
use std::os::unix::fs::OpenOptionsExt;
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use orchestra_application::ports::{FileRead, WorkspaceFiles};

/// Reads files of the agents' working directories (on the blocking pool).
#[derive(Debug, Clone, Copy, Default)]
pub struct DiskWorkspaceFiles;

fn read(root: &Path, path: &Path, max_bytes: u64) -> FileRead {
    let Ok(root) = root.canonicalize() else {
        return FileRead::Unreadable("the working directory cannot be resolved".into());
    };
    let wanted = if path.is_absolute() {
        path.to_path_buf()
    } else {
        root.join(path)
    };
    let real: PathBuf = match wanted.canonicalize() {
        Ok(p) => p,
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            // Not there: it is missing when the nearest directory that exists is within the
            // root.
            return match wanted
                .ancestors()
                .skip(1)
                .find_map(|a| a.canonicalize().ok())
            {
                Some(dir) if dir.starts_with(&root) => FileRead::Missing,
                _ => FileRead::Outside,
            };
        }
        Err(e) => return FileRead::Unreadable(e.to_string()),
    };
    if !real.starts_with(&root) {
        return FileRead::Outside;
    }
    // Opened without following a last link, then checked again by what was opened (the
    // agent may swap a directory for a link between the check above and the open).
    let file = match std::fs::OpenOptions::new()
        .read(true)
        .custom_flags(libc::O_NOFOLLOW | libc::O_NONBLOCK)
        .open(&real)
    {
        Ok(f) => f,
        Err(e) if e.raw_os_error() == Some(libc::ELOOP) => return FileRead::Outside,
        Err(e) => return FileRead::Unreadable(e.to_string()),
    };
    match std::fs::read_link(format!("/proc/self/fd/{}", file.as_raw_fd())) {
        Ok(opened) if opened.starts_with(&root) => {}
        Ok(_) => return FileRead::Outside,
        Err(e) => return FileRead::Unreadable(e.to_string()),
    }
    let meta = match file.metadata() {
        Ok(m) => m,
        Err(e) => return FileRead::Unreadable(e.to_string()),
    };
    if !meta.is_file() {
        return FileRead::NotAFile;
    }
    if meta.len() > max_bytes {
        return FileRead::TooLarge { bytes: meta.len() };
    }
    let mut bytes = Vec::new();
    if let Err(e) = file
        .take(max_bytes.saturating_add(1))
        .read_to_end(&mut bytes)
    {
        return FileRead::Unreadable(e.to_string());
    }
    if u64::try_from(bytes.len()).unwrap_or(u64::MAX) > max_bytes {
        return FileRead::TooLarge {
            bytes: u64::try_from(bytes.len()).unwrap_or(u64::MAX),
        };
    }
    match String::from_utf8(bytes) {
        Ok(text) => FileRead::Text {
            path: real.display().to_string(),
            text,
        },
        Err(_) => FileRead::NotText,
    }
}

#[async_trait]
impl WorkspaceFiles for DiskWorkspaceFiles {
    async fn read_within(&self, root: &str, path: &str, max_bytes: u64) -> FileRead {
        let (root, path) = (PathBuf::from(root), PathBuf::from(path));
        tokio::task::spawn_blocking(move || read(&root, &path, max_bytes))
            .await
            .unwrap_or_else(|e| FileRead::Unreadable(format!("the read task failed: {e}")))
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn reads_only_within_the_root() {
        let root = tempfile::tempdir().unwrap();
        let outside = tempfile::tempdir().unwrap();
        std::fs::write(root.path().join("a.txt"), "hello\n").unwrap();
        std::fs::write(outside.path().join("secret"), "key\n").unwrap();
        std::fs::write(root.path().join("big"), vec![b'x'; 100]).unwrap();
        std::fs::write(root.path().join("bin"), [0xff, 0xfe, 0x00]).unwrap();
        std::os::unix::fs::symlink(outside.path().join("secret"), root.path().join("link"))
            .unwrap();
        let r = root.path();
        assert!(
            matches!(read(r, Path::new("a.txt"), 1000), FileRead::Text { text, .. } if text == "hello\n")
        );
        assert!(matches!(
            read(r, &r.join("a.txt"), 1000),
            FileRead::Text { .. }
        ));
        assert_eq!(read(r, Path::new("new.txt"), 1000), FileRead::Missing);
        assert_eq!(
            read(r, Path::new("link"), 1000),
            FileRead::Outside,
            "a link out is not followed"
        );
        assert_eq!(read(r, Path::new("../secret"), 1000), FileRead::Outside);
        assert_eq!(
            read(r, Path::new("../nowhere/else.txt"), 1000),
            FileRead::Outside,
            "a new file outside is outside, not missing"
        );
        assert_eq!(read(r, Path::new("new/dir/x.txt"), 1000), FileRead::Missing);
        assert_eq!(
            read(r, &outside.path().join("secret"), 1000),
            FileRead::Outside
        );
        assert_eq!(
            read(r, Path::new("big"), 10),
            FileRead::TooLarge { bytes: 100 }
        );
        assert_eq!(read(r, Path::new("bin"), 10), FileRead::NotText);
        assert_eq!(read(r, Path::new("."), 10), FileRead::NotAFile);
    }
}
