//! The binary's entry point: parse the command line, load settings, run a subcommand.

use std::process::ExitCode;

use crate::Settings;
use crate::cli::{BackendArg, Cli, Command, MigrateAction};
use crate::startup::{self, Application};
use clap::Parser;
use orchestra_db::{Backend, Database, Migrations};
use orchestra_telemetry::{self as telemetry, TracingSettings};

/// Runs `orchestra` with the process's arguments and environment.
#[must_use]
pub fn main() -> ExitCode {
    let cli = Cli::parse();
    let settings = match Settings::load(cli.config.as_deref()) {
        Ok(mut s) => {
            if let Some(path) = &cli.log_file {
                let t = &mut s.telemetry;
                let (max_bytes, keep) = t
                    .log_file
                    .as_ref()
                    .map_or((100 * 1024 * 1024, 10), |f| (f.max_bytes, f.keep));
                t.log_file = Some(orchestra_telemetry::LogFileSettings {
                    path: path.clone(),
                    max_bytes,
                    keep,
                });
            }
            s
        }
        Err(err) => {
            eprintln!("orchestra: configuration error: {err}");
            return ExitCode::from(2);
        }
    };
    let runtime = match tokio::runtime::Builder::new_multi_thread()
        .enable_all()
        .build()
    {
        Ok(rt) => rt,
        Err(err) => {
            eprintln!("orchestra: cannot start the async runtime: {err}");
            return ExitCode::FAILURE;
        }
    };
    match runtime.block_on(run(cli, settings)) {
        Ok(()) => ExitCode::SUCCESS,
        Err(err) => {
            tracing::error!(error = format!("{err:#}"), "orchestra failed");
            eprintln!("orchestra: {err:#}");
            ExitCode::FAILURE
        }
    }
}

async fn run(cli: Cli, settings: Settings) -> anyhow::Result<()> {
    match cli.command.unwrap_or(Command::Serve { migrate: false }) {
        Command::Serve { migrate } => serve(settings, migrate).await,
        Command::CheckConfig => {
            println!("# configuration is valid\n{}", settings.to_redacted_toml());
            Ok(())
        }
        Command::Migrate { action } => {
            migrate(settings, action.unwrap_or(MigrateAction::Status)).await
        }
        Command::Backup { output, pg_bin_dir } => {
            let req = crate::backup::Request {
                file: output,
                force: false,
                pg_bin_dir,
            };
            crate::backup::backup(&settings, req).await
        }
        Command::Restore {
            file,
            force,
            pg_bin_dir,
        } => {
            let req = crate::backup::Request {
                file,
                force,
                pg_bin_dir,
            };
            crate::backup::restore(&settings, req).await
        }
        Command::Retention {
            action: crate::cli::RetentionAction::Run { dry_run },
        } => crate::retention::run_cli(&settings, dry_run).await,
        Command::Audit {
            action: crate::cli::AuditAction::Verify,
        } => {
            let db = crate::adapters::open_database(&settings, false).await?;
            crate::keys::verify_audit(db).await
        }
        Command::Keys { action } => {
            let db = crate::adapters::open_database(&settings, false).await?;
            crate::keys::run(db, action).await
        }
    }
}

async fn serve(settings: Settings, force_migrate: bool) -> anyhow::Result<()> {
    let mut guard = telemetry::init_tracing(&TracingSettings {
        filter: settings.telemetry.log_level.clone(),
        format: settings.telemetry.log_format,
        otlp_endpoint: settings.telemetry.otlp_endpoint.clone(),
        service_name: settings.telemetry.service_name.clone(),
        ansi: false,
        log_file: settings.telemetry.log_file.clone(),
    })?;
    let metrics = telemetry::install_metrics(startup::VERSION)?;
    tracing::info!(
        environment = %settings.environment,
        config_file = ?settings.config_file,
        version = startup::VERSION,
        "Orchestra starting"
    );
    let result = match Application::build(&settings, metrics, force_migrate).await {
        Ok(app) => app.run_until(startup::shutdown_signal()).await,
        Err(err) => Err(err),
    };
    if let Err(err) = &result {
        tracing::error!(error = format!("{err:#}"), "Orchestra failed");
    }
    // Flush spans off the async threads.
    let _ = tokio::task::spawn_blocking(move || guard.shutdown()).await;
    result
}

/// A one-connection pool for a command.
pub(crate) async fn open_for_cli(settings: &Settings) -> anyhow::Result<Database> {
    let target = settings.database.target.clone();
    let pool = orchestra_db::PoolSettings {
        max_size: 1,
        min_idle: 0,
        ..settings.database.pool
    };
    Ok(tokio::task::spawn_blocking(move || Database::open(target, pool)).await??)
}

async fn migrate(settings: Settings, action: MigrateAction) -> anyhow::Result<()> {
    if let MigrateAction::Print { backend, down } = action {
        let backend = match backend {
            Some(BackendArg::Sqlite) => Backend::Sqlite,
            Some(BackendArg::Postgres) => Backend::Postgres,
            None => settings.database.target.backend(),
        };
        print!("{}", Migrations::sql(backend, !down));
        return Ok(());
    }
    let db = open_for_cli(&settings).await?;
    println!("database: {} {}", db.backend(), db.location());
    match action {
        MigrateAction::Status | MigrateAction::Print { .. } => {}
        MigrateAction::Apply => {
            let applied = Migrations::apply_pending_async(&db).await?;
            if applied.is_empty() {
                println!("nothing to apply");
            }
            for v in applied {
                println!("applied {v}");
            }
        }
        MigrateAction::Revert { steps } => {
            for _ in 0..steps {
                let v = db.run("migrations.revert", Migrations::revert_last).await?;
                println!("reverted {v}");
            }
        }
    }
    let state = Migrations::state_async(&db).await?;
    for m in &state.migrations {
        println!("[{}] {}", if m.applied { "x" } else { " " }, m.name);
    }
    println!("{} applied, {} pending", state.applied(), state.pending());
    Ok(())
}
