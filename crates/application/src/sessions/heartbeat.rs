//! The lease heartbeat: every third of `node.lease_secs` this node renews the leases it
//! holds; a session whose agent runs here but whose lease another node took (this node was
//! cut off, or paused, past the lease) has its agent stopped here at once, without storing
//! its transcript (the new owner's copy is the one that counts).

use std::collections::HashSet;

use orchestra_domain::TurnStatus;

use super::deps::SessionDeps;
use super::supervisor::Supervisor;
use crate::error::AppError;
use crate::leases::session_lease;
use crate::metrics_names as m;

/// Renews this node's leases and gives up the sessions it lost.
#[derive(Debug, Clone)]
pub struct LeaseHeartbeat {
    deps: SessionDeps,
}

impl LeaseHeartbeat {
    /// The heartbeat over the session dependencies.
    pub fn new(deps: SessionDeps) -> Self {
        Self { deps }
    }

    /// How often [`Self::beat`] should run (none: no leases, nothing to do).
    pub fn interval(&self) -> Option<std::time::Duration> {
        self.deps
            .leases
            .as_ref()
            .map(crate::leases::NodeLeases::renew_every)
    }

    /// One beat; returns how many sessions this node lost to another.
    pub async fn beat(&self) -> usize {
        let Some(leases) = &self.deps.leases else {
            return 0;
        };
        let held: HashSet<String> = match leases.renew().await {
            Ok(names) => names.into_iter().collect(),
            Err(err) => {
                tracing::warn!(error = %err, "could not renew this node's leases; retrying next beat");
                return 0;
            }
        };
        let mut lost = 0;
        for id in self.deps.registry.ids() {
            if held.contains(&session_lease(id)) {
                continue;
            }
            // No row of ours: take it again, unless another node has it now.
            match leases.take_session(id).await {
                Ok(()) => {}
                Err(AppError::OwnedElsewhere { owner, .. }) => {
                    lost += 1;
                    metrics::counter!(m::NODE_SESSION_LEASES_LOST_TOTAL).increment(1);
                    tracing::error!(session.id = %id, owner = %owner.node_id, "another node took this session over while its agent ran here; stopping the agent here");
                    if let Some(live) = self.deps.registry.get(id) {
                        live.state().lease_lost = true;
                    }
                    Supervisor::new(self.deps.clone())
                        .stop(
                            id,
                            TurnStatus::Interrupted,
                            "another node took the session over",
                        )
                        .await;
                }
                Err(err) => {
                    tracing::warn!(session.id = %id, error = %err, "could not check the session's lease; retrying next beat");
                }
            }
        }
        lost
    }
}
