//! The server side of the `ovs` driver. With Open vSwitch the wiring is done on each hypervisor
//! by `trunkd agent`, which fetches the trunks bound to its host over the agent API and reports
//! their status itself; so this driver moves no status. After each committed trunk change it
//! notifies the agents of the hosts concerned over RabbitMQ (ids and revisions only), and the
//! event counts as delivered only once the broker confirmed every notification. Before commit
//! it vetoes subports the agents could not carry.

use std::collections::BTreeSet;
use std::sync::Arc;

use async_trait::async_trait;

use super::{DriverError, Settlement, StatusReporter, TrunkChange, TrunkDriver};
use crate::ids::TrunkId;
use crate::notify::publisher::Publisher;
use crate::notify::Notification;
use crate::store::{DriverReads, PendingEvent, ResourceKind};

pub const SEGMENTATION_TYPES: &[&str] = &["vlan", "inherit"];

pub struct OvsDriver {
    publisher: Publisher,
    store: Arc<dyn DriverReads>,
}

impl OvsDriver {
    pub fn new(rabbitmq_url: String, store: Arc<dyn DriverReads>) -> Self {
        Self {
            publisher: Publisher::new(rabbitmq_url),
            store,
        }
    }

    /// Hosts whose agent must hear of `event`: where the parent is bound now, and where it was
    /// bound before a move.
    async fn hosts_of(
        &self,
        event: &PendingEvent,
        trunk: TrunkId,
    ) -> Result<BTreeSet<String>, DriverError> {
        let failed = |e: crate::store::StoreError| DriverError::Failed(e.to_string());
        let mut hosts = BTreeSet::new();
        for key in ["host_id", "previous_host_id"] {
            if let Some(host) = event.payload.get(key).and_then(|v| v.as_str()) {
                hosts.insert(host.to_string());
            }
        }
        // Hosts of older events folded into this one (service::outbox).
        let folded = event
            .payload
            .get(crate::service::outbox::PREVIOUS_HOSTS)
            .and_then(|v| v.as_array());
        hosts.extend(
            folded
                .into_iter()
                .flatten()
                .filter_map(|v| v.as_str())
                .map(String::from),
        );
        let parent = event
            .payload
            .get("port_id")
            .and_then(|v| v.as_str())
            .and_then(|id| id.parse().ok());
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

#[async_trait]
impl TrunkDriver for OvsDriver {
    fn name(&self) -> &'static str {
        "ovs"
    }

    /// The host's agent wires the trunk and reports its status when done.
    fn settlement(&self) -> Settlement {
        Settlement::Reported
    }

    fn segmentation_types(&self) -> &'static [&'static str] {
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
        if event.resource != ResourceKind::Trunk
            || !super::TRUNK_WIRING_EVENTS.contains(&event.event.as_str())
        {
            return Ok(());
        }
        let trunk: TrunkId = event
            .resource_id
            .parse()
            .map_err(|_| DriverError::Failed(format!("bad trunk id {}", event.resource_id)))?;
        let notification = Notification {
            trunk_id: trunk,
            revision_number: event.revision_number,
            event: event.event.clone(),
        };
        for host in self.hosts_of(event, trunk).await? {
            self.publisher
                .publish(&host, &notification)
                .await
                .map_err(DriverError::Failed)?;
            tracing::debug!(%trunk, host, event = %event.event, "notified the host's agent");
        }
        Ok(())
    }
}
