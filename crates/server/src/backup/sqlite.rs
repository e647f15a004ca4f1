//! SQLite: the backup is an online copy (`VACUUM INTO`), the restore a checked copy put in
//! place with one rename.

use std::fs;
use std::io::Read;
use std::os::unix::fs::PermissionsExt;
use std::path::{Path, PathBuf};

use anyhow::{Context, bail};
use orchestra_db::inventory::{self, data_rows, integrity_check, live_nodes, table_counts};
use orchestra_db::{Backend, DbConn, Migrations};

use super::{Request, Summary, check_counts, display, holders, live_reasons, refuse_live};
use crate::Settings;

const MAGIC: &[u8; 16] = b"SQLite format 3\0";

pub(super) async fn backup(
    settings: &Settings,
    source: &str,
    output: &Path,
) -> anyhow::Result<Summary> {
    let db = crate::entry::open_for_cli(settings).await?;
    let path = display(output);
    db.run("backup", move |conn| {
        orchestra_db::sqlite_backup(conn, &path)
    })
    .await
    .with_context(|| format!("cannot copy {source}"))?;
    let output = output.to_owned();
    tokio::task::spawn_blocking(move || {
        fs::set_permissions(&output, fs::Permissions::from_mode(0o600))?;
        let mut conn = inventory::open_sqlite(&display(&output))?;
        inspect(&mut conn).with_context(|| format!("the copy {} fails its check", output.display()))
    })
    .await?
}

pub(super) async fn restore(target: &str, req: &Request) -> anyhow::Result<Summary> {
    let (file, target, force) = (req.file.clone(), PathBuf::from(target), req.force);
    tokio::task::spawn_blocking(move || restore_blocking(&file, &target, force)).await?
}

/// Integrity, schema version and row counts of an open SQLite database.
fn inspect(conn: &mut DbConn) -> anyhow::Result<Summary> {
    integrity_check(conn).context("SQLite's integrity check")?;
    let state = Migrations::state(conn)?;
    let counts = table_counts(conn)?;
    Summary::from_state(Backend::Sqlite, &state, counts)
}

/// Removes the staged copy unless it was put in place.
struct Staged(PathBuf);

impl Drop for Staged {
    fn drop(&mut self) {
        let _ = fs::remove_file(&self.0);
    }
}

fn restore_blocking(file: &Path, target: &Path, force: bool) -> anyhow::Result<Summary> {
    let mut magic = Vec::with_capacity(16);
    fs::File::open(file)
        .and_then(|f| f.take(16).read_to_end(&mut magic))
        .with_context(|| format!("cannot read {}", file.display()))?;
    if magic != MAGIC {
        bail!(
            "{} is not a SQLite database (a PostgreSQL dump is restored into a PostgreSQL database: set DB_CONNECTION_STRING to it)",
            file.display()
        );
    }
    let name = target
        .file_name()
        .context("the database path names no file")?
        .to_string_lossy();
    let staged = Staged(target.with_file_name(format!(".{name}.restore-{}", std::process::id())));
    fs::copy(file, &staged.0).with_context(|| format!("cannot copy to {}", staged.0.display()))?;
    fs::set_permissions(&staged.0, fs::Permissions::from_mode(0o600))?;
    let summary = {
        let mut conn = inventory::open_sqlite(&display(&staged.0))?;
        inspect(&mut conn).with_context(|| format!("{} fails its check", file.display()))?
    };

    if target.exists() {
        let holders = holders::processes_holding(target);
        let mut why = match inventory::open_sqlite(&display(target)).and_then(|mut c| {
            let counts = table_counts(&mut c)?;
            Ok((data_rows(&counts), live_nodes(&mut c)?))
        }) {
            Ok((rows, nodes)) => live_reasons(rows, &nodes, &holders),
            Err(err) => {
                let mut why = live_reasons(0, &[], &holders);
                why.push(format!("it cannot be read ({err})"));
                why
            }
        };
        why.dedup();
        refuse_live(&display(target), &why, &holders, force)?;
    }

    for companion in ["-wal", "-shm", "-journal"] {
        let path = PathBuf::from(format!("{}{companion}", target.display()));
        match fs::remove_file(&path) {
            Ok(()) => {}
            Err(e) if e.kind() == std::io::ErrorKind::NotFound => {}
            Err(e) => return Err(e).with_context(|| format!("cannot remove {}", path.display())),
        }
    }
    fs::File::open(&staged.0)?.sync_all()?;
    fs::rename(&staged.0, target)
        .with_context(|| format!("cannot put the restored copy at {}", target.display()))?;
    if let Some(dir) = target.parent().filter(|d| !d.as_os_str().is_empty()) {
        fs::File::open(dir)?.sync_all()?;
    }

    let mut conn = inventory::open_sqlite(&display(target))?;
    let restored = inspect(&mut conn).context("the restored database fails its check")?;
    check_counts(&summary.counts, &restored.counts)?;
    Ok(summary)
}
