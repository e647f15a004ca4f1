//! The retention archive: one gzipped JSON-lines file per run in `retention.archive_dir`,
//! readable by its owner only; each batch is flushed and synced before it is deleted.

use std::fs::{self, File};
use std::io::Write;
use std::os::unix::fs::{DirBuilderExt, OpenOptionsExt};
use std::path::PathBuf;

use async_trait::async_trait;
use chrono::{DateTime, Utc};
use flate2::Compression;
use flate2::write::GzEncoder;
use orchestra_application::ports::{ArchiveFile, ExpiredRow, RetentionArchive};

/// Archives into a directory.
#[derive(Debug, Clone)]
pub struct GzipArchive {
    dir: PathBuf,
}

impl GzipArchive {
    /// An archive in `dir` (made, mode 0700, when missing).
    pub fn new(dir: PathBuf) -> Self {
        Self { dir }
    }
}

#[async_trait]
impl RetentionArchive for GzipArchive {
    async fn open(&self, at: DateTime<Utc>) -> std::io::Result<Box<dyn ArchiveFile>> {
        let dir = self.dir.clone();
        let name = format!(
            "orchestra-archive-{}.jsonl.gz",
            at.format("%Y%m%dT%H%M%S%.3fZ")
        );
        tokio::task::spawn_blocking(move || {
            fs::DirBuilder::new()
                .recursive(true)
                .mode(0o700)
                .create(&dir)?;
            let path = dir.join(name);
            let file = fs::OpenOptions::new()
                .write(true)
                .create_new(true)
                .mode(0o600)
                .open(&path)?;
            Ok(Box::new(GzipFile {
                path,
                encoder: Some(GzEncoder::new(file, Compression::default())),
            }) as Box<dyn ArchiveFile>)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}

struct GzipFile {
    path: PathBuf,
    encoder: Option<GzEncoder<File>>,
}

fn taken() -> std::io::Error {
    std::io::Error::other("the archive file was lost by an earlier failure")
}

#[async_trait]
impl ArchiveFile for GzipFile {
    async fn write(&mut self, table: &'static str, rows: &[ExpiredRow]) -> std::io::Result<()> {
        let mut encoder = self.encoder.take().ok_or_else(taken)?;
        let mut text = Vec::new();
        for r in rows {
            serde_json::to_writer(
                &mut text,
                &serde_json::json!({"table": table, "row": r.row}),
            )?;
            text.push(b'\n');
        }
        let encoder = tokio::task::spawn_blocking(move || {
            encoder.write_all(&text)?;
            encoder.flush()?;
            encoder.get_ref().sync_data()?;
            Ok::<_, std::io::Error>(encoder)
        })
        .await
        .map_err(std::io::Error::other)??;
        self.encoder = Some(encoder);
        Ok(())
    }

    async fn finish(mut self: Box<Self>) -> std::io::Result<PathBuf> {
        let encoder = self.encoder.take().ok_or_else(taken)?;
        let path = self.path.clone();
        tokio::task::spawn_blocking(move || {
            let file = encoder.finish()?;
            file.sync_all()?;
            Ok(path)
        })
        .await
        .map_err(std::io::Error::other)?
    }
}
