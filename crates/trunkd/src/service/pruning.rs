//! Deleting what has outlived its retention: idempotency keys (`idempotency_retention`) and
//! audit rows (`audit_retention`). Lookups already ignore expired keys, so pruning only keeps
//! the tables small; it runs as the supervised task `pruning`.

use std::time::Duration;

use super::Service;

/// Longest pause between two passes.
pub const PRUNE_EVERY: Duration = Duration::from_secs(600);

impl Service {
    /// Prunes every [`PRUNE_EVERY`] (or a tenth of the idempotency retention, if shorter); a
    /// failed pass is logged and the next one tries again.
    pub async fn prune_forever(&self) {
        let every = PRUNE_EVERY.min(self.settings().idempotency_retention / 10);
        let mut ticks = tokio::time::interval(every.max(Duration::from_millis(100)));
        ticks.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
        loop {
            ticks.tick().await;
            match self.prune_idempotency_keys().await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "expired idempotency keys deleted"),
                Err(error) => tracing::warn!(%error, "could not prune idempotency keys"),
            }
            match self.prune_audit().await {
                Ok(0) => {}
                Ok(pruned) => tracing::info!(pruned, "audit rows past audit_retention deleted"),
                Err(error) => tracing::warn!(%error, "could not prune audit rows"),
            }
        }
    }
}
