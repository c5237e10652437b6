//! The server side of the `ovs` driver. With Open vSwitch the wiring is done on each hypervisor
//! by `trunkd agent`, which fetches the trunks bound to its host over the agent API and reports
//! their status itself; so this driver moves no status. After each committed trunk change it
//! notifies the agents of the hosts concerned over RabbitMQ (ids and revisions only), and the
//! event counts as delivered only once the broker confirmed every notification. Before commit
//! it vetoes subports the agents could not carry. The broker is a readiness dependency.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use super::{DriverError, Settlement, StatusReporter, TrunkChange, TrunkDriver};
use crate::ids::TrunkId;
use crate::model::SegmentationType;
use crate::notify::publisher::Publisher;
use crate::notify::Broker;
use crate::notify::Notification;
use crate::readiness::Readiness;
use crate::store::event::{
    Event, NetworkEvent, PortEvent, SubnetEvent, TrunkEvent, TrunkEventKind,
};
use crate::store::{DriverReads, PendingEvent};
use crate::supervisor::TaskHandle;

pub const SEGMENTATION_TYPES: &[SegmentationType] =
    &[SegmentationType::Vlan, SegmentationType::Inherit];

pub struct OvsDriver {
    publisher: Arc<Publisher>,
    store: Arc<dyn DriverReads>,
    /// Keeps the broker's readiness state current; dropped with the driver.
    _prober: TaskHandle,
}

impl OvsDriver {
    /// The driver, with the broker as the dependency `broker` of `readiness`, probed in the
    /// background.
    pub fn start(broker_at: Broker, store: Arc<dyn DriverReads>, readiness: &Readiness) -> Self {
        let broker = readiness.dependencies.register("broker");
        let publisher = Arc::new(Publisher::new(broker_at).with_dependency(broker.clone()));
        let probed = publisher.clone();
        let prober = readiness.probe("broker-probe", broker, move || {
            let publisher = probed.clone();
            async move { publisher.probe().await }
        });
        Self {
            publisher,
            store,
            _prober: prober,
        }
    }

    /// Hosts whose agent must hear of `event`: where the parent is bound now, and where it was
    /// bound before a move.
    async fn hosts_of(
        &self,
        event: &TrunkEvent,
        trunk: TrunkId,
    ) -> Result<BTreeSet<String>, DriverError> {
        let failed = |e: crate::store::StoreError| DriverError::Failed(e.to_string());
        let mut hosts: BTreeSet<String> = event.hosts().into_iter().map(String::from).collect();
        // Hosts of older events folded into this one (service::outbox).
        hosts.extend(event.previous_host_ids().iter().cloned());
        let parent = event.parent();
        let mut tx = self.store.snapshot().await.map_err(failed)?;
        let parent = match parent {
            Some(parent) => Some(parent),
            None => tx
                .get_trunk(trunk)
                .await
                .map_err(failed)?
                .map(|t| t.port_id),
        };
        if let Some(parent) = parent {
            if let Some(port) = tx.get_port(parent).await.map_err(failed)? {
                hosts.insert(port.host_id);
            }
        }
        hosts.remove("");
        Ok(hosts)
    }
}

/// The trunk events the agents of the hosts concerned are told of: those after which they
/// rewire. Each must be a wiring event, which a fold never hides.
fn agents_hear_of(kind: TrunkEventKind) -> Option<TrunkEventKind> {
    match kind {
        TrunkEventKind::Created
        | TrunkEventKind::Deleted
        | TrunkEventKind::SubportsAdded
        | TrunkEventKind::SubportsRemoved
        | TrunkEventKind::ParentBound
        | TrunkEventKind::ParentUnbound => Some(kind),
        // Agents report status themselves, and bridges carry no names or tags.
        TrunkEventKind::Updated | TrunkEventKind::StatusChanged => None,
    }
}

#[async_trait]
impl TrunkDriver for OvsDriver {
    fn name(&self) -> &'static str {
        "ovs"
    }

    /// The host's agent wires the trunk and reports its status when done.
    fn settlement(&self) -> Settlement {
        Settlement::Reported
    }

    fn segmentation_types(&self) -> &'static [SegmentationType] {
        SEGMENTATION_TYPES
    }

    /// A VM plugged into the integration bridge cannot be moved onto a trunk bridge.
    fn can_manage_bound_port(&self) -> bool {
        false
    }

    fn vif_type(&self) -> &'static str {
        "ovs"
    }

    fn precommit(&self, change: &TrunkChange<'_>) -> Result<(), DriverError> {
        super::refuse_non_vlan_subports("ovs", change)
    }

    async fn deliver(
        &self,
        event: &PendingEvent,
        _status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        let trunk_event = match &event.event {
            // Agents wire trunks only; they read ports through them.
            Event::Network(
                NetworkEvent::Created(_) | NetworkEvent::Updated(_) | NetworkEvent::Deleted(_),
            )
            | Event::Subnet(
                SubnetEvent::Created(_) | SubnetEvent::Updated(_) | SubnetEvent::Deleted(_),
            )
            | Event::Port(PortEvent::Created(_) | PortEvent::Updated(_) | PortEvent::Deleted(_)) => {
                return Ok(())
            }
            Event::Trunk(trunk) => trunk,
        };
        let Some(kind) = agents_hear_of(trunk_event.kind()) else {
            return Ok(());
        };
        let trunk: TrunkId = event
            .resource_id
            .parse()
            .map_err(|_| DriverError::Failed(format!("bad trunk id {}", event.resource_id)))?;
        let notification = Notification {
            trunk_id: trunk,
            revision_number: event.revision_number,
            event: kind,
        };
        for host in self.hosts_of(trunk_event, trunk).await? {
            self.publisher
                .publish(&host, &notification)
                .await
                .map_err(DriverError::Failed)?;
            tracing::debug!(%trunk, host, event = %kind, "notified the host's agent");
        }
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn agents_hear_of_wiring_events_only() {
        for kind in TrunkEventKind::ALL {
            assert_eq!(
                agents_hear_of(kind).is_some(),
                kind.is_wiring(),
                "{kind}: a fold may drop an event that is not wiring before delivery"
            );
        }
    }

    #[test]
    fn the_notification_on_the_wire_names_the_event() {
        let trunk = TrunkId::new();
        let notification = Notification {
            trunk_id: trunk,
            revision_number: 7,
            event: TrunkEventKind::SubportsAdded,
        };
        let wire = serde_json::to_string(&notification).expect("encode");
        assert_eq!(
            wire,
            format!(r#"{{"trunk_id":"{trunk}","revision_number":7,"event":"subports_added"}}"#)
        );
        let read: Notification = serde_json::from_str(&wire).expect("decode");
        assert_eq!(read, notification);
    }
}
