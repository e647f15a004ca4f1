//! The policy lives in the config file, so it changes between two starts: each start
//! compares it with the one the last start recorded and, when it differs, appends a
//! `policy.change` event (before and after fingerprints, and the new policy in full).

use orchestra_application::audit::{AuditRecord, AuditTrail};
use orchestra_application::ports::{ChannelStateRepository, Clock};
use sha2::{Digest, Sha256};

/// Where the last recorded fingerprint is kept (the channel-state table).
pub const POLICY_FINGERPRINT_KEY: &str = "policy.fingerprint";

fn fingerprint(text: &str) -> String {
    Sha256::digest(text.as_bytes())
        .iter()
        .take(8)
        .map(|b| format!("{b:02x}"))
        .collect()
}

/// Records a `policy.change` when `policy_text` differs from what the last start saw.
/// Failures are logged, never fatal: the audit trail counts its own.
pub async fn record_if_changed(
    policy_text: &str,
    state: &dyn ChannelStateRepository,
    audit: &AuditTrail,
    clock: &dyn Clock,
) {
    let now = fingerprint(policy_text);
    let before = match state.get(POLICY_FINGERPRINT_KEY).await {
        Ok(v) => v,
        Err(err) => {
            tracing::warn!(error = %err, "could not read the last policy fingerprint");
            return;
        }
    };
    if before.as_deref() == Some(now.as_str()) {
        return;
    }
    audit
        .record(
            AuditRecord::new("config", "policy.change", "policy")
                .states(before.as_deref().unwrap_or("none"), &now)
                .detail(Some(policy_text.to_owned())),
        )
        .await;
    if let Err(err) = state.set(POLICY_FINGERPRINT_KEY, &now, clock.now()).await {
        tracing::warn!(error = %err, "could not store the policy fingerprint");
    }
    tracing::info!(policy.before = before.as_deref().unwrap_or("none"), policy.after = %now, "the policy changed since the last start (audited)");
}
