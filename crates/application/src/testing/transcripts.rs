//! Transcripts in memory: the database's parts and a node's files.

use std::collections::HashMap;
use std::sync::Mutex;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use orchestra_domain::SessionId;

use super::lock;
use crate::ports::{LocalTranscript, RepositoryError, TranscriptFiles, TranscriptRepository};

/// A stored part: its start offset and its bytes.
type Part = (u64, Vec<u8>);

/// Stored parts, per session.
#[derive(Debug, Default)]
pub struct InMemoryTranscriptRepository {
    parts: Mutex<HashMap<SessionId, Vec<Part>>>,
}

impl InMemoryTranscriptRepository {
    /// The parts stored for `session`.
    pub fn parts(&self, session: SessionId) -> Vec<Part> {
        lock(&self.parts).get(&session).cloned().unwrap_or_default()
    }
}

fn end(parts: &[Part]) -> u64 {
    parts.last().map_or(0, |(s, b)| s + b.len() as u64)
}

#[async_trait]
impl TranscriptRepository for InMemoryTranscriptRepository {
    async fn stored_len(&self, session: SessionId) -> Result<u64, RepositoryError> {
        Ok(lock(&self.parts).get(&session).map_or(0, |p| end(p)))
    }

    async fn append(
        &self,
        session: SessionId,
        offset: u64,
        bytes: Vec<u8>,
        _at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let mut all = lock(&self.parts);
        let parts = all.entry(session).or_default();
        if end(parts) != offset {
            return Ok(false);
        }
        parts.push((offset, bytes));
        Ok(true)
    }

    async fn load(&self, session: SessionId) -> Result<Vec<u8>, RepositoryError> {
        Ok(lock(&self.parts)
            .get(&session)
            .map(|p| p.iter().flat_map(|(_, b)| b.clone()).collect())
            .unwrap_or_default())
    }
}

/// One node's transcript files, by session.
#[derive(Debug, Default)]
pub struct InMemoryTranscriptFiles {
    files: Mutex<HashMap<SessionId, Vec<u8>>>,
}

impl InMemoryTranscriptFiles {
    /// Appends to the session's file (what the CLI does).
    pub fn append(&self, session: SessionId, bytes: &[u8]) {
        lock(&self.files)
            .entry(session)
            .or_default()
            .extend_from_slice(bytes);
    }

    /// The session's file, if the node has one.
    pub fn file(&self, session: SessionId) -> Option<Vec<u8>> {
        lock(&self.files).get(&session).cloned()
    }

    /// Loses the session's file (a new node, a lost disk).
    pub fn remove(&self, session: SessionId) {
        lock(&self.files).remove(&session);
    }
}

#[async_trait]
impl TranscriptFiles for InMemoryTranscriptFiles {
    async fn read_from(
        &self,
        session: SessionId,
        _working_directory: &str,
        offset: u64,
        max_bytes: usize,
    ) -> Result<Option<LocalTranscript>, String> {
        let files = lock(&self.files);
        let Some(file) = files.get(&session) else {
            return Ok(None);
        };
        let len = file.len() as u64;
        let start = usize::try_from(offset)
            .unwrap_or(usize::MAX)
            .min(file.len());
        let window = &file[start..file.len().min(start.saturating_add(max_bytes))];
        let bytes = match window.iter().rposition(|b| *b == b'\n') {
            Some(end) if max_bytes > 0 => window[..=end].to_vec(),
            _ => Vec::new(),
        };
        Ok(Some(LocalTranscript { len, bytes }))
    }

    async fn restore(
        &self,
        session: SessionId,
        _working_directory: &str,
        bytes: Vec<u8>,
    ) -> Result<(), String> {
        lock(&self.files).insert(session, bytes);
        Ok(())
    }
}
