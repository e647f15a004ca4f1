//! The command line: `orchestra [serve] | migrate | check-config | keys | audit | backup | restore | retention`.

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
    /// Back up the database: an online copy for SQLite, `pg_dump --format=custom` for
    /// PostgreSQL; the copy is read back and checked, and its row counts printed.
    Backup {
        /// Where to write the backup (a new file).
        #[arg(long, short, value_name = "FILE")]
        output: PathBuf,
        /// Where `pg_dump` and `pg_restore` are (default: PATH, then /usr/lib/postgresql/*/bin).
        #[arg(long, value_name = "DIR")]
        pg_bin_dir: Option<PathBuf>,
    },
    /// Archive and delete what is past `retention.days` (the server does it every
    /// `retention.interval_secs` too).
    Retention {
        /// What to do.
        #[command(subcommand)]
        action: RetentionAction,
    },
    /// Restore the database from a backup: checked first (integrity, schema version), then
    /// put in place and compared table by table. Stop every server on the database first.
    Restore {
        /// The backup (`orchestra backup`'s file).
        file: PathBuf,
        /// Overwrite a database that holds data or that a server may be using.
        #[arg(long)]
        force: bool,
        /// Where `pg_restore` is (default: PATH, then /usr/lib/postgresql/*/bin).
        #[arg(long, value_name = "DIR")]
        pg_bin_dir: Option<PathBuf>,
    },
}

/// `orchestra retention` actions.
#[derive(Debug, Subcommand)]
pub enum RetentionAction {
    /// Run retention once now.
    Run {
        /// Print what would go, and remove nothing.
        #[arg(long)]
        dry_run: bool,
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
