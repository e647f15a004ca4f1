//! API keys from the command line (`orchestra keys create | list | revoke`) and at start:
//! the configured bootstrap admin key, or in Development with no keys at all, one made and
//! printed once.

use std::sync::Arc;

use orchestra_application::audit::AuditTrail;
use orchestra_application::keys::{
    CreateApiKeyHandler, ListApiKeysHandler, RevokeApiKeyHandler, hash_key,
};
use orchestra_application::ports::{ApiKeyRepository, Clock, SystemClock};
use orchestra_db::{Database, DieselApiKeyRepository, DieselAuditRepository};
use orchestra_domain::{ApiKey, Role};
use secrecy::ExposeSecret;

use crate::cli::KeysAction;
use crate::config::{Environment, Settings};

/// The name of the key made or registered at start.
pub const BOOTSTRAP_KEY_NAME: &str = "bootstrap-admin";

/// Makes sure an admin can get in: registers `auth.bootstrap_admin_key` if no key has its
/// hash; in Development with no active key at all, makes one and prints it on stderr (once:
/// it is not stored). Elsewhere, with no key, says how to make one.
///
/// # Errors
/// When the keys cannot be read or written.
pub async fn bootstrap(settings: &Settings, repo: Arc<dyn ApiKeyRepository>) -> anyhow::Result<()> {
    if settings.auth.insecure_disabled {
        return Ok(());
    }
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    if let Some(key) = &settings.auth.bootstrap_admin_key {
        let hash = hash_key(key.expose_secret());
        if repo.find_by_hash(&hash).await?.is_none() {
            repo.insert(&ApiKey {
                name: BOOTSTRAP_KEY_NAME.into(),
                role: Role::Admin,
                key_hash: hash,
                prefix: key.expose_secret().chars().take(11).collect(),
                created_at: clock.now(),
                revoked_at: None,
            })
            .await?;
            tracing::info!(
                key.name = BOOTSTRAP_KEY_NAME,
                "registered the configured bootstrap admin key"
            );
        }
        return Ok(());
    }
    if repo.list().await?.iter().any(ApiKey::is_active) {
        return Ok(());
    }
    if settings.environment == Environment::Development {
        let (_, secret) = CreateApiKeyHandler::new(repo, clock)
            .handle(BOOTSTRAP_KEY_NAME, Role::Admin)
            .await?;
        // On stderr, not in the log: it is shown this once and never stored.
        eprintln!(
            "\n  No API keys yet: made the admin key `{BOOTSTRAP_KEY_NAME}`. It is shown only now:\n\n    {secret}\n\n  Use it as `Authorization: Bearer <key>`; make others with `orchestra keys create`.\n"
        );
    } else {
        tracing::warn!(
            "no API keys: every /api request will be refused; make one with `orchestra keys create --name NAME --role admin`"
        );
    }
    Ok(())
}

/// Runs `orchestra keys ...` against the configured database.
///
/// # Errors
/// When the database cannot be used or the command is refused.
pub async fn run(db: Database, action: KeysAction) -> anyhow::Result<()> {
    let repo: Arc<dyn ApiKeyRepository> = Arc::new(DieselApiKeyRepository::new(db.clone()));
    let clock: Arc<dyn Clock> = Arc::new(SystemClock);
    let audit = AuditTrail::new(Arc::new(DieselAuditRepository::new(db)), clock.clone());
    match action {
        KeysAction::Create { name, role } => {
            let role: Role = role.parse()?;
            let (key, secret) = CreateApiKeyHandler::new(repo, clock)
                .with_audit(audit, "cli")
                .handle(&name, role)
                .await?;
            eprintln!(
                "made the {} key `{}`; it is shown only now:",
                key.role, key.name
            );
            println!("{secret}");
        }
        KeysAction::List => {
            println!(
                "{:<24} {:<9} {:<12} {:<26} revoked",
                "name", "role", "prefix", "created"
            );
            for k in ListApiKeysHandler::new(repo).handle().await? {
                println!(
                    "{:<24} {:<9} {:<12} {:<26} {}",
                    k.name,
                    k.role,
                    k.prefix,
                    k.created_at.to_rfc3339(),
                    k.revoked_at.map_or_else(|| "-".into(), |t| t.to_rfc3339())
                );
            }
        }
        KeysAction::Revoke { name } => {
            RevokeApiKeyHandler::new(repo, clock, None)
                .handle(&name)
                .await?;
            println!("revoked `{name}` (other running nodes stop accepting it within 10 s)");
        }
    }
    Ok(())
}

/// Runs `orchestra audit verify`: walks the audit log; exit 0 when intact, otherwise names
/// every changed or deleted event and fails.
///
/// # Errors
/// When the log cannot be read, or it is not intact.
pub async fn verify_audit(db: Database) -> anyhow::Result<()> {
    let trail = AuditTrail::new(
        Arc::new(DieselAuditRepository::new(db)),
        Arc::new(SystemClock),
    );
    let report = trail.verify().await?;
    for problem in &report.problems {
        println!("{problem}");
    }
    if report.problems.is_empty() {
        if report.removed_by_retention > 0 {
            println!(
                "audit log intact: {} events (the {} before them removed by retention)",
                report.checked, report.removed_by_retention
            );
        } else {
            println!("audit log intact: {} events", report.checked);
        }
        Ok(())
    } else {
        anyhow::bail!(
            "the audit log is not intact: {} problem(s) in {} events",
            report.problems.len(),
            report.checked
        )
    }
}
