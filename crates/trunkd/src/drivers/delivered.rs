//! The feed of delivered outbox events, for API calls that wait for their change to be wired
//! before they answer (drivers that settle on delivery, see [`super::Settlement`]). The
//! dispatcher publishes each event it has delivered; a waiter subscribes before its write
//! commits, so no delivery of its event can slip past it. Another server may deliver the
//! event instead (several servers share one database), so waiters also look at the outbox
//! now and then; the feed only makes the common case immediate.

use std::sync::Arc;

use tokio::sync::broadcast;

use crate::store::{PendingEvent, ResourceKind};

/// Deliveries a slow waiter may fall behind by before it has to look at the store instead.
const BACKLOG: usize = 1024;

/// One delivered event: which resource, and the revision it was about.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Delivered {
    pub resource: ResourceKind,
    pub resource_id: String,
    pub revision_number: i64,
}

/// Cheap to clone; every clone publishes to and subscribes from the same feed.
#[derive(Debug, Clone)]
pub struct DeliveryFeed {
    sender: broadcast::Sender<Arc<Delivered>>,
}

impl Default for DeliveryFeed {
    fn default() -> Self {
        Self::new()
    }
}

impl DeliveryFeed {
    pub fn new() -> Self {
        Self {
            sender: broadcast::channel(BACKLOG).0,
        }
    }

    /// Deliveries from now on.
    pub fn subscribe(&self) -> broadcast::Receiver<Arc<Delivered>> {
        self.sender.subscribe()
    }

    /// Tells the waiters, if any, that `event` was delivered.
    pub fn publish(&self, event: &PendingEvent) {
        if self.sender.receiver_count() == 0 {
            return;
        }
        // An error means every waiter has gone meanwhile: nobody to tell.
        let _ = self.sender.send(Arc::new(Delivered {
            resource: event.resource(),
            resource_id: event.resource_id.clone(),
            revision_number: event.revision_number,
        }));
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn event(id: &str, revision_number: i64) -> PendingEvent {
        let parent = crate::ids::PortId::new();
        let trunk: crate::ids::TrunkId = id.parse().unwrap_or_default();
        PendingEvent {
            id: 1,
            resource_id: id.into(),
            revision_number,
            event: crate::store::event::TrunkChange::Created(
                crate::store::event::TrunkMembers::new(trunk, parent, Vec::new()),
            )
            .into(),
            attempts: 0,
            next_attempt_ms: 0,
        }
    }

    #[tokio::test]
    async fn subscribers_see_deliveries_after_they_subscribed() {
        let feed = DeliveryFeed::new();
        feed.publish(&event("before", 0)); // nobody listens: dropped
        let mut receiver = feed.subscribe();
        feed.clone().publish(&event("after", 3));
        let delivered = receiver.recv().await.expect("one delivery");
        assert_eq!(delivered.resource_id, "after");
        assert_eq!(delivered.revision_number, 3);
        assert!(receiver.try_recv().is_err(), "nothing else");
    }
}
