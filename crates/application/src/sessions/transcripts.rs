//! Each session's agent transcript, kept in the database: captured after every turn and
//! when the process ends, written back before `--resume` when this node has no copy or an
//! older one. Then any node can resume any session (issue 10 point 3).
//!
//! The stored copy only grows: each part starts where the stored copy ended, and a part
//! starting at the same offset as one already stored is refused, so two captures racing
//! (a pump's last and a new process's first) never store a byte twice or leave a gap.
//! Only complete lines are stored, so a copy written back is always whole JSONL.

use std::sync::Arc;

use orchestra_domain::SessionId;

use crate::metrics_names as m;
use crate::ports::{Clock, TranscriptFiles, TranscriptRepository};

/// The largest part stored at once (a turn's lines are far smaller; a first capture of a
/// long conversation is cut in parts of this size).
pub const MAX_PART_BYTES: usize = 4 * 1024 * 1024;

/// Parts stored by one capture at most (a bound, not a limit met in practice: 256 MiB).
const MAX_PARTS_PER_CAPTURE: usize = 64;

/// Captures and restores transcripts.
#[derive(Debug, Clone)]
pub struct TranscriptSync {
    files: Arc<dyn TranscriptFiles>,
    repo: Arc<dyn TranscriptRepository>,
    clock: Arc<dyn Clock>,
}

/// What a capture did.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Default)]
pub struct Captured {
    /// Bytes stored.
    pub bytes: u64,
    /// Parts stored.
    pub parts: usize,
}

impl TranscriptSync {
    /// Over this node's files and the database.
    pub fn new(
        files: Arc<dyn TranscriptFiles>,
        repo: Arc<dyn TranscriptRepository>,
        clock: Arc<dyn Clock>,
    ) -> Self {
        Self { files, repo, clock }
    }

    /// Stores the complete lines the local file has beyond the stored copy. A failure is
    /// counted and logged with the session id; the conversation goes on on this node.
    pub async fn capture(&self, id: SessionId, working_directory: &str) -> Captured {
        match self.try_capture(id, working_directory).await {
            Ok(done) => done,
            Err(err) => {
                metrics::counter!(m::AGENT_TRANSCRIPT_FAILURES_TOTAL, "op" => "capture")
                    .increment(1);
                tracing::warn!(session.id = %id, error = %err, "could not store the agent's transcript");
                Captured::default()
            }
        }
    }

    async fn try_capture(&self, id: SessionId, wd: &str) -> Result<Captured, String> {
        let mut done = Captured::default();
        for _ in 0..MAX_PARTS_PER_CAPTURE {
            let stored = self.repo.stored_len(id).await.map_err(|e| e.to_string())?;
            let Some(local) = self.files.read_from(id, wd, stored, MAX_PART_BYTES).await? else {
                return Ok(done);
            };
            if local.len <= stored || local.bytes.is_empty() {
                // Nothing new, or this node's copy is older than the stored one (another
                // node ran the session since); the stored copy is written back before
                // this node resumes it.
                return Ok(done);
            }
            let n = local.bytes.len() as u64;
            let now = self.clock.now();
            if !self
                .repo
                .append(id, stored, local.bytes, now)
                .await
                .map_err(|e| e.to_string())?
            {
                // Another capture stored this part first.
                return Ok(done);
            }
            metrics::counter!(m::AGENT_TRANSCRIPT_BYTES_STORED_TOTAL).increment(n);
            done.bytes += n;
            done.parts += 1;
            if stored + n >= local.len {
                return Ok(done);
            }
        }
        Ok(done)
    }

    /// Before `--resume`: writes the stored copy back when this node has none or a
    /// shorter one. `true` when it wrote. A failure is counted and logged; the resume
    /// then goes on with what the node has (and fails visibly if that is nothing).
    pub async fn restore_for_resume(&self, id: SessionId, working_directory: &str) -> bool {
        match self.try_restore(id, working_directory).await {
            Ok(wrote) => {
                if wrote {
                    metrics::counter!(m::AGENT_TRANSCRIPT_RESTORES_TOTAL).increment(1);
                    tracing::info!(session.id = %id, "agent transcript written back from the database");
                }
                wrote
            }
            Err(err) => {
                metrics::counter!(m::AGENT_TRANSCRIPT_FAILURES_TOTAL, "op" => "restore")
                    .increment(1);
                tracing::warn!(session.id = %id, error = %err, "could not write the agent's transcript back");
                false
            }
        }
    }

    async fn try_restore(&self, id: SessionId, wd: &str) -> Result<bool, String> {
        let stored = self.repo.stored_len(id).await.map_err(|e| e.to_string())?;
        if stored == 0 {
            return Ok(false);
        }
        let local = self.files.read_from(id, wd, stored, 0).await?;
        if local.is_some_and(|l| l.len >= stored) {
            return Ok(false);
        }
        let bytes = self.repo.load(id).await.map_err(|e| e.to_string())?;
        self.files.restore(id, wd, bytes).await?;
        Ok(true)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::testing::{InMemoryTranscriptFiles, InMemoryTranscriptRepository, ManualClock};

    struct Fixture {
        files: Arc<InMemoryTranscriptFiles>,
        repo: Arc<InMemoryTranscriptRepository>,
        sync: TranscriptSync,
        id: SessionId,
    }

    fn fixture() -> Fixture {
        let files = Arc::new(InMemoryTranscriptFiles::default());
        let repo = Arc::new(InMemoryTranscriptRepository::default());
        let sync = TranscriptSync::new(files.clone(), repo.clone(), Arc::new(ManualClock::fixed()));
        Fixture {
            files,
            repo,
            sync,
            id: SessionId::new(),
        }
    }

    #[tokio::test]
    async fn a_capture_stores_the_new_whole_lines_once() {
        let f = fixture();
        assert_eq!(
            f.sync.capture(f.id, "/w").await,
            Captured::default(),
            "no file, nothing"
        );
        f.files.append(f.id, b"{\"turn\":1}\n{\"half\":");
        let first = f.sync.capture(f.id, "/w").await;
        assert_eq!(
            (first.bytes, first.parts),
            (11, 1),
            "the unfinished line waits"
        );
        assert_eq!(
            f.sync.capture(f.id, "/w").await,
            Captured::default(),
            "nothing new"
        );
        f.files.append(f.id, b"1}\n{\"turn\":2}\n");
        let second = f.sync.capture(f.id, "/w").await;
        assert_eq!(second.bytes, 22);
        assert_eq!(
            f.repo.load(f.id).await.unwrap(),
            f.files.file(f.id).unwrap(),
            "the stored copy is the file"
        );
        assert_eq!(
            f.repo
                .parts(f.id)
                .iter()
                .map(|(s, _)| *s)
                .collect::<Vec<_>>(),
            [0, 11]
        );
    }

    #[tokio::test]
    async fn a_part_at_a_stale_offset_is_refused_and_nothing_is_stored_twice() {
        let f = fixture();
        f.files.append(f.id, b"a\nb\n");
        f.sync.capture(f.id, "/w").await;
        // A capture that read the stored length before the first one stored its part.
        assert!(
            !f.repo
                .append(f.id, 0, b"a\n".to_vec(), ManualClock::fixed().now())
                .await
                .unwrap()
        );
        assert_eq!(f.repo.load(f.id).await.unwrap(), b"a\nb\n");
    }

    #[tokio::test]
    async fn a_long_conversation_is_stored_in_parts_of_bounded_size() {
        let f = fixture();
        let line = format!("{}\n", "x".repeat(1023));
        let file = line.repeat(MAX_PART_BYTES / 1024 * 2 + 3);
        f.files.append(f.id, file.as_bytes());
        let done = f.sync.capture(f.id, "/w").await;
        assert_eq!(done.bytes, file.len() as u64);
        assert_eq!(done.parts, 3);
        assert!(
            f.repo
                .parts(f.id)
                .iter()
                .all(|(_, b)| b.len() <= MAX_PART_BYTES)
        );
        assert_eq!(f.repo.load(f.id).await.unwrap(), file.as_bytes());
    }

    #[tokio::test]
    async fn a_node_without_the_file_gets_it_back_before_resuming_and_a_newer_copy_is_kept() {
        let f = fixture();
        assert!(
            !f.sync.restore_for_resume(f.id, "/w").await,
            "nothing stored"
        );
        f.files.append(f.id, b"one\ntwo\n");
        f.sync.capture(f.id, "/w").await;
        assert!(
            !f.sync.restore_for_resume(f.id, "/w").await,
            "the local copy is as new"
        );
        f.files.remove(f.id);
        assert!(f.sync.restore_for_resume(f.id, "/w").await);
        assert_eq!(f.files.file(f.id).unwrap(), b"one\ntwo\n");
        // An older local copy (this node ran the session before another did).
        f.files
            .restore(f.id, "/w", b"one\n".to_vec())
            .await
            .unwrap();
        assert!(f.sync.restore_for_resume(f.id, "/w").await);
        assert_eq!(f.files.file(f.id).unwrap(), b"one\ntwo\n");
        // A local copy ahead of the database is left alone, and stored by the next capture.
        f.files.append(f.id, b"three\n");
        assert!(!f.sync.restore_for_resume(f.id, "/w").await);
        f.sync.capture(f.id, "/w").await;
        assert_eq!(f.repo.load(f.id).await.unwrap(), b"one\ntwo\nthree\n");
    }

    #[tokio::test]
    async fn an_older_local_copy_is_not_stored_over_a_newer_one() {
        let f = fixture();
        f.files.append(f.id, b"one\ntwo\n");
        f.sync.capture(f.id, "/w").await;
        f.files
            .restore(f.id, "/w", b"one\n".to_vec())
            .await
            .unwrap();
        assert_eq!(f.sync.capture(f.id, "/w").await, Captured::default());
        assert_eq!(f.repo.load(f.id).await.unwrap(), b"one\ntwo\n");
    }
}
