//! PostgreSQL: the backup is `pg_dump --format=custom`, read back in full by `pg_restore` to
//! check it; the restore is `pg_restore --clean --single-transaction`, checked table by
//! table against the archive.

use std::fs;
use std::io::{BufRead, BufReader, Read};
use std::os::unix::fs::PermissionsExt;
use std::path::Path;
use std::process::Stdio;

use anyhow::{Context, bail};
use orchestra_db::inventory::{
    TableCounts, data_rows, drop_tables, live_nodes, table_counts, tables,
};
use orchestra_db::{Backend, DatabaseTarget, Migrations};

use super::pg_tools::{self, Tool};
use super::{Request, Summary, check_counts, live_reasons, refuse_live};
use crate::Settings;

const MAGIC: &[u8; 5] = b"PGDMP";
const MIGRATIONS_TABLE: &str = "__diesel_schema_migrations";

pub(super) async fn backup(
    _settings: &Settings,
    target: &DatabaseTarget,
    req: &Request,
) -> anyhow::Result<Summary> {
    let dump = pg_tools::find("pg_dump", req.pg_bin_dir.as_deref(), target)?;
    let reader = pg_tools::find("pg_restore", req.pg_bin_dir.as_deref(), target)?;
    let file = req.file.clone();
    tokio::task::spawn_blocking(move || {
        let mut cmd = dump.command(true);
        cmd.args(["--format=custom", "--no-password"])
            .arg(format!("--file={}", file.display()));
        if let Err(err) = dump.run(cmd) {
            let _ = fs::remove_file(&file);
            return Err(err);
        }
        fs::set_permissions(&file, fs::Permissions::from_mode(0o600))?;
        let archive = read_archive(&reader, &file)
            .with_context(|| format!("the dump {} cannot be read back", file.display()))?;
        Summary::from_versions(Backend::Postgres, &archive.versions, archive.counts)
    })
    .await?
}

pub(super) async fn restore(
    settings: &Settings,
    target: &DatabaseTarget,
    req: &Request,
) -> anyhow::Result<Summary> {
    check_magic(&req.file)?;
    let tool = pg_tools::find("pg_restore", req.pg_bin_dir.as_deref(), target)?;
    let tool = std::sync::Arc::new(tool);
    let (reader, file) = (tool.clone(), req.file.clone());
    let archive = tokio::task::spawn_blocking(move || read_archive(&reader, &file))
        .await?
        .with_context(|| format!("{} cannot be read", req.file.display()))?;
    let summary =
        Summary::from_versions(Backend::Postgres, &archive.versions, archive.counts.clone())?;

    let db = crate::entry::open_for_cli(settings).await?;
    let (counts, nodes, present) = db
        .run("restore.inspect", |c| {
            Ok((table_counts(c)?, live_nodes(c)?, tables(c)?))
        })
        .await
        .context("cannot read the database to restore into")?;
    let why = live_reasons(data_rows(&counts), &nodes, &[]);
    refuse_live(&target.location(), &why, &[], req.force)?;
    // Tables a newer build made, which the archive does not have: dropped, so that this
    // build's migrations find the schema they expect.
    let extra: Vec<String> = present
        .into_iter()
        .filter(|t| !archive.tables.contains(t))
        .collect();
    if !extra.is_empty() {
        println!(
            "dropping tables the backup does not have: {}",
            extra.join(", ")
        );
        let drop = extra.clone();
        db.run("restore.drop", move |c| drop_tables(c, &drop))
            .await?;
    }
    drop(db);

    let file = req.file.clone();
    let runner = tool.clone();
    tokio::task::spawn_blocking(move || {
        let mut cmd = runner.command(true);
        cmd.args([
            "--clean",
            "--if-exists",
            "--no-owner",
            "--no-privileges",
            "--single-transaction",
            "--exit-on-error",
            "--no-password",
        ])
        .arg(&file);
        runner.run(cmd)
    })
    .await??;

    let db = crate::entry::open_for_cli(settings).await?;
    let (restored, state) = db
        .run("restore.verify", |c| {
            Ok((table_counts(c)?, Migrations::state(c)?))
        })
        .await?;
    check_counts(&archive.counts, &restored)?;
    let after = Summary::from_state(Backend::Postgres, &state, restored)?;
    if after.version != summary.version {
        bail!(
            "the restored schema version is {:?}, the backup's {:?}",
            after.version,
            summary.version
        );
    }
    Ok(summary)
}

fn check_magic(file: &Path) -> anyhow::Result<()> {
    let mut magic = Vec::with_capacity(5);
    fs::File::open(file)
        .and_then(|f| f.take(5).read_to_end(&mut magic))
        .with_context(|| format!("cannot read {}", file.display()))?;
    if magic != MAGIC {
        bail!(
            "{} is not a pg_dump archive in the custom format (`orchestra backup` writes one; a SQLite copy is restored into a SQLite database)",
            file.display()
        );
    }
    Ok(())
}

/// What an archive holds, read through `pg_restore`.
struct Archive {
    tables: Vec<String>,
    versions: Vec<String>,
    counts: TableCounts,
}

/// Lists the archive's tables (`--list`) and reads every row of it (`--data-only` to
/// stdout): a damaged archive fails here, and the rows give the counts and the schema
/// version.
fn read_archive(tool: &Tool, file: &Path) -> anyhow::Result<Archive> {
    let mut list = tool.command(false);
    list.arg("--list").arg(file);
    let toc = tool.run(list)?;
    let tables: Vec<String> = toc
        .lines()
        .filter(|l| !l.starts_with(';'))
        .filter_map(|l| {
            let words: Vec<&str> = l.split_whitespace().collect();
            (words.get(3) == Some(&"TABLE") && words.get(4) != Some(&"DATA"))
                .then(|| words.get(5).map(|t| unquote(t)))
                .flatten()
        })
        .collect();
    let mut counts: TableCounts = tables.iter().map(|t| (t.clone(), 0)).collect();
    let mut versions = Vec::new();

    let mut data = tool.command(false);
    data.args(["--data-only", "--file=-"])
        .arg(file)
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let mut child = data
        .spawn()
        .with_context(|| format!("cannot run {}", tool.name()))?;
    let stdout = child.stdout.take().context("no stdout")?;
    let mut current: Option<String> = None;
    for line in BufReader::new(stdout).split(b'\n') {
        let line = line?;
        match &current {
            None => {
                if let Some(rest) = line.strip_prefix(b"COPY ") {
                    let rest = String::from_utf8_lossy(rest);
                    let name = rest.split([' ', '(']).next().unwrap_or_default();
                    let name = name.rsplit('.').next().unwrap_or(name);
                    current = Some(unquote(name));
                }
            }
            Some(table) => {
                if line == b"\\." {
                    current = None;
                } else {
                    *counts.entry(table.clone()).or_default() += 1;
                    if table == MIGRATIONS_TABLE {
                        let first = line.split(|b| *b == b'\t').next().unwrap_or_default();
                        versions.push(String::from_utf8_lossy(first).into_owned());
                    }
                }
            }
        }
    }
    let out = child.wait_with_output()?;
    if !out.status.success() {
        bail!(
            "{} failed ({}): {}",
            tool.name(),
            out.status,
            String::from_utf8_lossy(&out.stderr).trim()
        );
    }
    if !tables.iter().any(|t| t == MIGRATIONS_TABLE) {
        bail!(
            "the archive has no {MIGRATIONS_TABLE} table: it is not a dump of an Orchestra database"
        );
    }
    Ok(Archive {
        tables,
        versions,
        counts,
    })
}

fn unquote(name: &str) -> String {
    name.trim_matches('"').replace("\"\"", "\"")
}
