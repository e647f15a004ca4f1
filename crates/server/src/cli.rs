//! The command line: `orchestra [serve] | migrate | check-config | keys | audit | backup`.

use std::path::PathBuf;

use clap::{Parser, Subcommand, ValueEnum};

/// Orchestra runs Claude Code agents as supervised subprocesses and keeps a human in the loop.
#[derive(Debug, Parser)]
#[command(name = "orchestra", version, about)]
pub struct Cli {
    /// Config file (default: `config/<environment>.toml` when it exists).
    #[arg(long, global = true, value_name = "FILE")]
    pub config: Option<PathBuf>,

    /// Write log lines to FILE (rotated by size) instead of stdout; sets `telemetry.log_file`.
    #[arg(long, global = true, value_name = "FILE")]
    pub log_file: Option<PathBuf>,

    /// What to do (default: serve).
    #[command(subcommand)]
    pub command: Option<Command>,
}

/// Subcommands.
#[derive(Debug, Subcommand)]
pub enum Command {
    /// Serve the HTTP API and run the background services (the default).
    Serve {
        /// Apply pending migrations at start even where the environment does not.
        #[arg(long)]
        migrate: bool,
    },
    /// Inspect and change the database schema.
    Migrate {
        /// What to do (default: status).
        #[command(subcommand)]
        action: Option<MigrateAction>,
    },
    /// Load and validate the configuration, print it with secrets redacted, and exit.
    CheckConfig,
    /// Check the audit log.
    Audit {
        /// What to do.
        #[command(subcommand)]
        action: AuditAction,
    },
    /// Make, list and revoke API keys.
    Keys {
        /// What to do.
        #[command(subcommand)]
        action: KeysAction,
    },
    /// Back up the database: an online copy for SQLite; the pg_dump command for PostgreSQL.
    Backup {
        /// Where to write the SQLite copy.
        #[arg(long, short, value_name = "FILE")]
        output: Option<PathBuf>,
    },
}

/// `orchestra audit` actions.
#[derive(Debug, Subcommand)]
pub enum AuditAction {
    /// Check that no event was changed or deleted (each carries the hash of the one before).
    Verify,
}

/// `orchestra keys` actions.
#[derive(Debug, Subcommand)]
pub enum KeysAction {
    /// Make a key and print it (once; only its hash is stored).
    Create {
        /// A unique name (`ci`, `alice`): recorded on everything the key does.
        #[arg(long)]
        name: String,
        /// viewer, operator, approver or admin.
        #[arg(long)]
        role: String,
    },
    /// List the keys (names, roles, prefixes; never the keys).
    List,
    /// Revoke a key by name.
    Revoke {
        /// The key's name.
        name: String,
    },
}

/// `orchestra migrate` actions.
#[derive(Debug, Subcommand)]
pub enum MigrateAction {
    /// List migrations and whether each is applied.
    Status,
    /// Apply every pending migration.
    Apply,
    /// Revert the newest applied migrations.
    Revert {
        /// How many to revert.
        #[arg(long, default_value_t = 1)]
        steps: u32,
    },
    /// Print the SQL of every migration (for review), without touching a database.
    Print {
        /// Which backend's SQL (default: the configured one).
        #[arg(long, value_enum)]
        backend: Option<BackendArg>,
        /// Print the down (revert) SQL, newest first.
        #[arg(long)]
        down: bool,
    },
}

/// A backend named on the command line.
#[derive(Debug, Clone, Copy, ValueEnum)]
pub enum BackendArg {
    /// SQLite.
    Sqlite,
    /// PostgreSQL.
    Postgres,
}
