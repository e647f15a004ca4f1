//! Finding and running PostgreSQL's client tools with the configured connection, its
//! password in `PGPASSWORD` rather than on the command line.

use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};

use anyhow::{Context, bail};
use orchestra_db::{DatabaseTarget, ToolConninfo};

/// A PostgreSQL tool and the connection to give it.
pub(super) struct Tool {
    path: PathBuf,
    conn: ToolConninfo,
}

/// Where `name` is: in `dir` when given, else on `PATH`, else in the newest
/// `/usr/lib/postgresql/<major>/bin`.
///
/// # Errors
/// When it is in none of them: the message says what to install.
pub(super) fn find(
    name: &str,
    dir: Option<&Path>,
    target: &DatabaseTarget,
) -> anyhow::Result<Tool> {
    let conn = target
        .tool_conninfo()
        .context("PostgreSQL's tools need a PostgreSQL database")?;
    let path = match dir {
        Some(dir) => Some(dir.join(name)).filter(|p| p.is_file()),
        None => on_path(name).or_else(|| in_lib_postgresql(name)),
    };
    let Some(path) = path else {
        bail!(
            "{name} was not found ({}): install PostgreSQL's client tools of the server's major version (Debian: postgresql-client-15) or pass --pg-bin-dir DIR",
            dir.map_or_else(
                || "looked on PATH and in /usr/lib/postgresql/*/bin".to_owned(),
                |d| format!("looked in {}", d.display())
            )
        );
    };
    Ok(Tool { path, conn })
}

fn on_path(name: &str) -> Option<PathBuf> {
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|d| d.join(name))
            .find(|p| p.is_file())
    })
}

fn in_lib_postgresql(name: &str) -> Option<PathBuf> {
    let mut majors: Vec<(u32, PathBuf)> = std::fs::read_dir("/usr/lib/postgresql")
        .ok()?
        .filter_map(Result::ok)
        .filter_map(|e| Some((e.file_name().to_str()?.parse().ok()?, e.path())))
        .collect();
    majors.sort();
    majors
        .into_iter()
        .rev()
        .map(|(_, dir)| dir.join("bin").join(name))
        .find(|p| p.is_file())
}

impl Tool {
    /// The command with the connection's password in its environment; `with_db` adds
    /// `--dbname`.
    pub(super) fn command(&self, with_db: bool) -> Command {
        let mut cmd = Command::new(&self.path);
        if let Some(password) = &self.conn.password {
            cmd.env("PGPASSWORD", password.expose());
        }
        cmd.env("PGCONNECT_TIMEOUT", "10");
        if with_db {
            cmd.arg(format!("--dbname={}", self.conn.conninfo));
        }
        cmd.stdin(Stdio::null());
        cmd
    }

    /// Runs `cmd` to the end; its stderr is the error when it fails.
    pub(super) fn run(&self, mut cmd: Command) -> anyhow::Result<String> {
        let out = cmd
            .output()
            .with_context(|| format!("cannot run {}", self.path.display()))?;
        if !out.status.success() {
            bail!(
                "{} failed ({}): {}",
                self.name(),
                out.status,
                String::from_utf8_lossy(&out.stderr).trim()
            );
        }
        Ok(String::from_utf8_lossy(&out.stdout).into_owned())
    }

    pub(super) fn name(&self) -> String {
        self.path
            .file_name()
            .map_or_else(String::new, |n| n.to_string_lossy().into_owned())
    }
}
