//! Answers that are never stale. A client compares the answer to a trunk write with the GET it
//! makes next (the upstream API tests do, and so do scripts that wait for ACTIVE), so the
//! answer must already hold the status the drivers give the change:
//! - drivers that settle in the transaction (`noop`): the status is written with the change;
//! - drivers that settle on delivery (`ovn`): the call waits, at most `driver_wait`, until the
//!   dispatcher has delivered the change's event (the data plane has the change), then reads
//!   the trunk again. On time-out it answers with the committed state; the outbox finishes the
//!   work later, nothing is lost;
//! - drivers whose work is reported later (`ovs`): the committed state, at once.
//!
//! A status that moves later, because the data plane brought a port up, moves the revision:
//! the answer is what a GET said at that revision.

use std::collections::HashMap;
use std::sync::Arc;
use std::time::Duration;

use tokio::sync::broadcast::{self, error::RecvError};

use crate::drivers::delivered::Delivered;
use crate::drivers::Settlement;
use crate::ids::TrunkId;
use crate::model::Trunk;
use crate::store::ResourceKind;

use super::Service;

/// How often a waiter looks at the outbox itself, for events another server delivered.
const OUTBOX_LOOK_EVERY: Duration = Duration::from_millis(200);

/// A subscription to deliveries taken before a write commits, so none is missed.
pub(crate) struct DeliveryWatch(broadcast::Receiver<Arc<Delivered>>);

impl Service {
    /// Before a trunk write: a watch on deliveries if the answer is to wait for them.
    pub(crate) fn watch_deliveries(&self) -> Option<DeliveryWatch> {
        (self.drivers().settlement() == Settlement::OnDelivery
            && !self.settings().driver_wait.is_zero())
        .then(|| DeliveryWatch(self.deliveries.subscribe()))
    }

    /// After a trunk write committed `trunks`: with a watch, waits until the events of each
    /// trunk up to its committed revision are delivered (or `driver_wait` passes), then reads
    /// the trunks again. Without one, or if a read fails, the committed state.
    pub(crate) async fn settled(
        &self,
        watch: Option<DeliveryWatch>,
        trunks: Vec<Trunk>,
    ) -> Vec<Trunk> {
        let Some(DeliveryWatch(mut feed)) = watch else {
            return trunks;
        };
        let mut waiting: HashMap<String, i64> = trunks
            .iter()
            .map(|t| (t.id.to_string(), t.std.revision_number))
            .collect();
        let deadline = tokio::time::Instant::now() + self.settings().driver_wait;
        let mut look = tokio::time::interval(OUTBOX_LOOK_EVERY);
        look.tick().await; // the first tick is immediate; the feed covers the first moments
        while !waiting.is_empty() {
            tokio::select! {
                delivered = feed.recv() => match delivered {
                    Ok(d) if d.resource == ResourceKind::Trunk => {
                        if waiting.get(&d.resource_id).is_some_and(|r| *r <= d.revision_number) {
                            waiting.remove(&d.resource_id);
                        }
                    }
                    Ok(_) => {}
                    Err(RecvError::Lagged(_)) => self.forget_delivered(&mut waiting).await,
                    Err(RecvError::Closed) => break,
                },
                _ = look.tick() => self.forget_delivered(&mut waiting).await,
                _ = tokio::time::sleep_until(deadline) => {
                    tracing::debug!(
                        trunks = waiting.len(),
                        wait = ?self.settings().driver_wait,
                        "answering before the drivers finished; the outbox goes on"
                    );
                    break;
                }
            }
        }
        self.reread(trunks).await
    }

    /// Drops from `waiting` the trunks with no pending event up to their revision.
    async fn forget_delivered(&self, waiting: &mut HashMap<String, i64>) {
        let mut done = Vec::new();
        for (id, revision) in waiting.iter() {
            match self
                .store()
                .pending_events_of(ResourceKind::Trunk, id)
                .await
            {
                Ok(pending) if pending.iter().all(|e| e.revision_number > *revision) => {
                    done.push(id.clone());
                }
                Ok(_) => {}
                Err(error) => {
                    tracing::debug!(%error, "could not look at the outbox while waiting");
                    return;
                }
            }
        }
        for id in done {
            waiting.remove(&id);
        }
    }

    /// The trunks as stored now; one deleted meanwhile keeps its committed copy.
    async fn reread(&self, trunks: Vec<Trunk>) -> Vec<Trunk> {
        let Ok(mut tx) = self.store().begin_read().await else {
            return trunks;
        };
        let mut fresh = Vec::with_capacity(trunks.len());
        for trunk in trunks {
            let id: TrunkId = trunk.id;
            match tx.get_trunk(id).await {
                Ok(Some(now)) => fresh.push(now),
                _ => fresh.push(trunk),
            }
        }
        fresh
    }
}
