//! Agent transcripts in SQL: append-only parts, DEFLATE-compressed.

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use diesel::prelude::*;
use orchestra_application::ports::{RepositoryError, TranscriptRepository};
use orchestra_domain::SessionId;

use super::deflate::{compress, decompress};
use crate::models::to_naive;
use crate::schema::transcript_parts;
use crate::{Database, map_diesel};

/// Transcripts in SQL.
#[derive(Debug, Clone)]
pub struct DieselTranscriptRepository {
    db: Database,
}

impl DieselTranscriptRepository {
    /// A repository over `db`.
    pub fn new(db: Database) -> Self {
        Self { db }
    }
}

fn stored_len(conn: &mut crate::DbConn, session: &str) -> Result<u64, RepositoryError> {
    // The last part's end: parts are contiguous from 0 (each starts where the copy ended).
    let last: Option<(i64, i64)> = transcript_parts::table
        .filter(transcript_parts::session_id.eq(session))
        .order(transcript_parts::start_offset.desc())
        .select((transcript_parts::start_offset, transcript_parts::raw_len))
        .first(conn)
        .optional()
        .map_err(map_diesel)?;
    Ok(last.map_or(0, |(start, len)| {
        u64::try_from(start.saturating_add(len)).unwrap_or(0)
    }))
}

#[async_trait]
impl TranscriptRepository for DieselTranscriptRepository {
    async fn stored_len(&self, session: SessionId) -> Result<u64, RepositoryError> {
        let session = session.to_string();
        self.db
            .run("transcripts.stored_len", move |conn| {
                stored_len(conn, &session)
            })
            .await
    }

    async fn append(
        &self,
        session: SessionId,
        offset: u64,
        bytes: Vec<u8>,
        at: DateTime<Utc>,
    ) -> Result<bool, RepositoryError> {
        let session = session.to_string();
        let start = i64::try_from(offset)
            .map_err(|_| RepositoryError::Conflict("transcript offset out of range".into()))?;
        let raw_len = i64::try_from(bytes.len())
            .map_err(|_| RepositoryError::Conflict("transcript part too large".into()))?;
        let stored_at = to_naive(at);
        self.db
            .write("transcripts.append", move |conn| {
                // Compressed on the blocking pool, off the async runtime.
                let data = compress(&bytes, "a transcript")?;
                // Only at the end of the stored copy: a part at an older end conflicts with
                // the part stored there (primary key), a part past the end leaves no gap.
                if stored_len(conn, &session)? != offset {
                    return Ok(false);
                }
                match diesel::insert_into(transcript_parts::table)
                    .values((
                        transcript_parts::session_id.eq(&session),
                        transcript_parts::start_offset.eq(start),
                        transcript_parts::raw_len.eq(raw_len),
                        transcript_parts::data.eq(&data),
                        transcript_parts::stored_at.eq(stored_at),
                    ))
                    .execute(conn)
                    .map_err(map_diesel)
                {
                    Ok(_) => Ok(true),
                    Err(RepositoryError::Conflict(_)) => Ok(false),
                    Err(other) => Err(other),
                }
            })
            .await
    }

    async fn load(&self, session: SessionId) -> Result<Vec<u8>, RepositoryError> {
        let session = session.to_string();
        self.db
            .run("transcripts.load", move |conn| {
                let parts: Vec<(i64, i64, Vec<u8>)> = transcript_parts::table
                    .filter(transcript_parts::session_id.eq(&session))
                    .order(transcript_parts::start_offset.asc())
                    .select((
                        transcript_parts::start_offset,
                        transcript_parts::raw_len,
                        transcript_parts::data,
                    ))
                    .load(conn)
                    .map_err(map_diesel)?;
                let mut out = Vec::new();
                for (start, raw_len, data) in parts {
                    if u64::try_from(start).ok() != Some(out.len() as u64) {
                        return Err(RepositoryError::Corrupt(format!(
                            "transcript of session {session}: a part starts at {start}, the copy so far ends at {}",
                            out.len()
                        )));
                    }
                    let raw_len = usize::try_from(raw_len).map_err(|_| {
                        RepositoryError::Corrupt("a transcript part's length is negative".into())
                    })?;
                    out.extend(decompress(&data, raw_len, "a stored transcript part")?);
                }
                Ok(out)
            })
            .await
    }
}
