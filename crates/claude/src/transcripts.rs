//! The CLI's conversation files on this node, behind the `TranscriptFiles` port.
//!
//! Claude Code keeps each session in
//! `<config dir>/projects/<working directory, every character but [A-Za-z0-9] as '-'>/<session>.jsonl`
//! (the config dir is `$CLAUDE_CONFIG_DIR`, else `$HOME/.claude`, of the CLI's own
//! environment), appending one JSON line per event; `--resume` finds the file under any
//! project directory (see ../shared/claude-cli/README.md, "Sessions").

use std::fs::File;
use std::io::{Read, Seek, SeekFrom, Write};
use std::path::{Path, PathBuf};

use async_trait::async_trait;
use orchestra_application::ports::{LocalTranscript, TranscriptFiles};
use orchestra_domain::SessionId;

use crate::ClaudeRuntime;

/// The CLI cuts project directory names at 200 characters and adds a hash of the path;
/// Orchestra does not reproduce the hash, and finds such files by their session id.
const MAX_SLUG: usize = 200;

/// A single line longer than this is refused (the CLI's lines are far shorter).
const MAX_LINE: u64 = 64 * 1024 * 1024;

/// The project directory name the CLI uses for `working_directory` (UTF-16 code units, as
/// JavaScript's `replace(/[^a-zA-Z0-9]/g, "-")` sees them).
pub fn project_slug(working_directory: &str) -> String {
    let slug: String = working_directory
        .encode_utf16()
        .map(|u| match char::from_u32(u32::from(u)) {
            Some(c) if c.is_ascii_alphanumeric() => c,
            _ => '-',
        })
        .collect();
    slug.chars().take(MAX_SLUG).collect()
}

/// Transcript files of the agents this node runs.
#[derive(Debug, Clone)]
pub struct ClaudeTranscriptFiles {
    runtime: ClaudeRuntime,
}

impl ClaudeTranscriptFiles {
    /// The files of `runtime`'s agents (their HOME and config dir follow its settings).
    pub fn new(runtime: ClaudeRuntime) -> Self {
        Self { runtime }
    }

    /// The CLI's config dir for a session, from the environment it is started with.
    pub fn config_dir(&self, session: &str) -> PathBuf {
        let env = self.runtime.env(session, Path::new("/nonexistent"));
        let get = |k: &str| env.iter().find(|(n, _)| n == k).map(|(_, v)| v.clone());
        if let Some(dir) = get("CLAUDE_CONFIG_DIR").filter(|d| !d.is_empty()) {
            return PathBuf::from(dir);
        }
        PathBuf::from(get("HOME").unwrap_or_else(|| "/".into())).join(".claude")
    }

    /// Where the CLI writes the session's file.
    pub fn path(&self, session: &str, working_directory: &str) -> PathBuf {
        self.config_dir(session)
            .join("projects")
            .join(project_slug(working_directory))
            .join(format!("{session}.jsonl"))
    }

    /// The session's file on this node: at its usual place, or under another project
    /// directory (a resume from elsewhere, a long path).
    fn find(&self, session: &str, working_directory: &str) -> Option<PathBuf> {
        let usual = self.path(session, working_directory);
        if usual.is_file() {
            return Some(usual);
        }
        let name = format!("{session}.jsonl");
        std::fs::read_dir(self.config_dir(session).join("projects"))
            .ok()?
            .filter_map(Result::ok)
            .map(|e| e.path().join(&name))
            .find(|p| p.is_file())
    }
}

/// Reads `file` from `offset`: at most `max_bytes` of whole lines (more when one line is
/// longer), never a partial last line.
fn read_lines(
    file: &mut File,
    offset: u64,
    len: u64,
    max_bytes: usize,
) -> std::io::Result<Vec<u8>> {
    if max_bytes == 0 || len <= offset {
        return Ok(Vec::new());
    }
    file.seek(SeekFrom::Start(offset))?;
    let window = (len - offset).min(max_bytes as u64);
    let mut buf = Vec::with_capacity(usize::try_from(window).unwrap_or(0));
    Read::by_ref(file).take(window).read_to_end(&mut buf)?;
    if let Some(end) = memchr::memrchr(b'\n', &buf) {
        buf.truncate(end + 1);
        return Ok(buf);
    }
    // One line longer than the window: read on to its end, or nothing if it is unfinished.
    let mut chunk = [0u8; 64 * 1024];
    loop {
        let n = file.read(&mut chunk)?;
        if n == 0 {
            return Ok(Vec::new());
        }
        if let Some(end) = memchr::memchr(b'\n', &chunk[..n]) {
            buf.extend_from_slice(&chunk[..=end]);
            return Ok(buf);
        }
        buf.extend_from_slice(&chunk[..n]);
        if buf.len() as u64 > MAX_LINE {
            return Err(std::io::Error::other(format!(
                "a transcript line is over {MAX_LINE} bytes"
            )));
        }
    }
}

/// Creates `dir` and its parents up to `root` (excluded), owned by `owner` when given.
fn make_dirs(root: &Path, dir: &Path, owner: Option<(u32, u32)>) -> std::io::Result<()> {
    std::fs::create_dir_all(dir)?;
    if let Some((uid, gid)) = owner {
        let mut d = dir;
        while d.starts_with(root) && d != root {
            chown(d, uid, gid)?;
            match d.parent() {
                Some(p) => d = p,
                None => break,
            }
        }
    }
    Ok(())
}

fn chown(path: &Path, uid: u32, gid: u32) -> std::io::Result<()> {
    nix::unistd::chown(
        path,
        Some(nix::unistd::Uid::from_raw(uid)),
        Some(nix::unistd::Gid::from_raw(gid)),
    )
    .map_err(std::io::Error::from)
}

#[async_trait]
impl TranscriptFiles for ClaudeTranscriptFiles {
    async fn read_from(
        &self,
        session: SessionId,
        working_directory: &str,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Option<LocalTranscript>, String> {
        let files = self.clone();
        let (session, wd) = (session.to_string(), working_directory.to_owned());
        tokio::task::spawn_blocking(move || {
            let Some(path) = files.find(&session, &wd) else {
                return Ok(None);
            };
            let read = || -> std::io::Result<LocalTranscript> {
                let mut file = File::open(&path)?;
                let len = file.metadata()?.len();
                let bytes = read_lines(&mut file, offset, len, max_bytes)?;
                Ok(LocalTranscript { len, bytes })
            };
            match read() {
                Ok(t) => Ok(Some(t)),
                Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
                Err(e) => Err(format!("cannot read {}: {e}", path.display())),
            }
        })
        .await
        .map_err(|e| format!("transcript read failed: {e}"))?
    }

    async fn restore(
        &self,
        session: SessionId,
        working_directory: &str,
        bytes: Vec<u8>,
    ) -> Result<(), String> {
        let files = self.clone();
        let (session, wd) = (session.to_string(), working_directory.to_owned());
        let owner = self
            .runtime
            .settings()
            .run_as
            .as_ref()
            .map(|u| (u.uid, u.gid));
        tokio::task::spawn_blocking(move || {
            let path = files
                .find(&session, &wd)
                .unwrap_or_else(|| files.path(&session, &wd));
            let write = || -> std::io::Result<()> {
                let dir = path.parent().unwrap_or(Path::new("/"));
                let root = files
                    .config_dir(&session)
                    .parent()
                    .map_or_else(|| PathBuf::from("/"), Path::to_path_buf);
                make_dirs(&root, dir, owner)?;
                // Written aside, then renamed over: the CLI never reads half a file.
                let tmp = dir.join(format!(".{session}.jsonl.orchestra-restore"));
                let mut f = File::create(&tmp)?;
                f.write_all(&bytes)?;
                f.sync_all()?;
                if let Some((uid, gid)) = owner {
                    chown(&tmp, uid, gid)?;
                }
                std::fs::rename(&tmp, &path)
            };
            write().map_err(|e| format!("cannot write {}: {e}", path.display()))
        })
        .await
        .map_err(|e| format!("transcript write failed: {e}"))?
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_slug_is_the_clis() {
        // Recorded from the real CLI (../shared/claude-cli/README.md).
        assert_eq!(
            project_slug("/srv/x/proj/e_session_resume"),
            "-srv-x-proj-e-session-resume"
        );
        // One '-' per UTF-16 code unit: 'é' is one, an emoji two.
        assert_eq!(project_slug("/a/é/😀"), "-a-----");
        assert_eq!(project_slug(&"a".repeat(300)).len(), MAX_SLUG);
    }

    #[test]
    fn only_whole_lines_are_read() {
        let dir = tempfile::tempdir().unwrap();
        let path = dir.path().join("t.jsonl");
        std::fs::write(&path, b"{\"a\":1}\n{\"b\":2}\n{\"c\":").unwrap();
        let mut f = File::open(&path).unwrap();
        let len = f.metadata().unwrap().len();
        assert_eq!(
            read_lines(&mut f, 0, len, 1 << 20).unwrap(),
            b"{\"a\":1}\n{\"b\":2}\n"
        );
        assert_eq!(read_lines(&mut f, 8, len, 1 << 20).unwrap(), b"{\"b\":2}\n");
        // A window that ends inside the second line still yields the first whole line.
        assert_eq!(read_lines(&mut f, 0, len, 10).unwrap(), b"{\"a\":1}\n");
        // A window shorter than one line reads on to the line's end.
        assert_eq!(read_lines(&mut f, 0, len, 3).unwrap(), b"{\"a\":1}\n");
        // The unfinished last line is never read.
        assert_eq!(read_lines(&mut f, 16, len, 1 << 20).unwrap(), b"");
        assert_eq!(read_lines(&mut f, 0, len, 0).unwrap(), b"");
    }
}
