//! The `ovn` driver: programs the OVN northbound database. Networks are Logical_Switches,
//! ports are Logical_Switch_Ports, and a subport is the port row with `parent_name` (the trunk's
//! parent port) and `tag` (its VLAN ID) set, which is how OVN models trunks.
//!
//! Each outbox event is handled level-triggered: the driver reads the current state of the
//! event's networks, ports and trunks from the store and writes the difference to the database
//! in one transaction ([`sync`]), so re-applying an event, or applying an old one late, is
//! harmless. A trunk goes ACTIVE once that transaction commits. While the database is
//! unreachable the delivery fails, the event stays in the outbox and is retried with backoff.
//! A reconciler ([`reconcile`]) compares everything on start, on every reconnection and
//! periodically, and repairs drift. Port rows are found through a name index kept by a
//! monitor ([`names`]), so reading N of them costs N hash lookups in the database, not N scans.

mod names;
pub mod plan;
mod reconcile;
pub mod rows;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::{DriverError, Settlement, StatusReporter, TrunkChange, TrunkDriver};
use crate::model::TrunkStatus;
use crate::ovsdb::{Client, Remote, Timing};
use crate::store::{DriverReads, PendingEvent, ResourceKind};
use sync::{Engine, Scope};

/// `inherit` is accepted when the network's segmentation is a VLAN (see `precommit`).
pub const SEGMENTATION_TYPES: &[&str] = &["vlan", "inherit"];

/// The driver's settings.
#[derive(Debug, Clone)]
pub struct OvnSettings {
    pub nb_connection: Remote,
    /// Time between full reconciliations.
    pub reconcile_interval: Duration,
}

pub struct OvnDriver {
    engine: Arc<Engine>,
    /// The name-index follower and the reconciler.
    background: [tokio::task::JoinHandle<()>; 2],
}

impl Drop for OvnDriver {
    fn drop(&mut self) {
        for task in &self.background {
            task.abort();
        }
    }
}

/// Trunk events after which the trunk is wired and may go ACTIVE.
const ACTIVATING_EVENTS: &[&str] = &[
    "created",
    "subports_added",
    "subports_removed",
    "parent_bound",
];

impl OvnDriver {
    /// Connects in the background (start-up does not wait for the database) and starts the
    /// reconciler.
    pub fn start(settings: OvnSettings, store: Arc<dyn DriverReads>) -> Self {
        let client = Arc::new(Client::start(settings.nb_connection, Timing::default()));
        let engine = Arc::new(Engine::new(client, store));
        let connected = Arc::new(tokio::sync::Notify::new());
        let background = [
            tokio::spawn(reconcile::follow_port_names(
                engine.clone(),
                connected.clone(),
            )),
            tokio::spawn(reconcile::run(
                engine.clone(),
                settings.reconcile_interval,
                connected,
            )),
        ];
        Self { engine, background }
    }

    /// What an event asks to bring in line; `None` for events that change nothing in OVN.
    fn scope_of(event: &PendingEvent) -> Result<Option<Scope>, DriverError> {
        let bad = || DriverError::Failed(format!("event {} names a malformed id", event.id));
        let mut scope = Scope::default();
        match event.resource {
            ResourceKind::Network => {
                scope
                    .networks
                    .insert(event.resource_id.parse().map_err(|_| bad())?);
            }
            ResourceKind::Port => {
                scope
                    .ports
                    .insert(event.resource_id.parse().map_err(|_| bad())?);
            }
            ResourceKind::Trunk if super::TRUNK_WIRING_EVENTS.contains(&event.event.as_str()) => {
                scope
                    .trunks
                    .insert(event.resource_id.parse().map_err(|_| bad())?);
                // Ports that left the trunk are no longer found through it.
                let named = event.payload.get("sub_ports").and_then(|v| v.as_array());
                for id in named.into_iter().flatten().filter_map(|v| v.as_str()) {
                    scope.ports.insert(id.parse().map_err(|_| bad())?);
                }
                if let Some(parent) = event.payload.get("port_id").and_then(|v| v.as_str()) {
                    scope.ports.insert(parent.parse().map_err(|_| bad())?);
                }
            }
            ResourceKind::Trunk => return Ok(None),
        }
        Ok(Some(scope))
    }
}

#[async_trait]
impl TrunkDriver for OvnDriver {
    fn name(&self) -> &'static str {
        "ovn"
    }

    /// A trunk is wired once the northbound transaction of its event commits.
    fn settlement(&self) -> Settlement {
        Settlement::OnDelivery
    }

    fn segmentation_types(&self) -> &'static [&'static str] {
        SEGMENTATION_TYPES
    }

    fn can_manage_bound_port(&self) -> bool {
        true
    }

    fn vif_type(&self) -> &'static str {
        "ovs"
    }

    /// OVN carries a subport as a VLAN tag on its parent.
    fn precommit(&self, change: &TrunkChange<'_>) -> Result<(), DriverError> {
        super::refuse_non_vlan_subports("ovn", change)
    }

    async fn deliver(
        &self,
        event: &PendingEvent,
        status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        let Some(scope) = Self::scope_of(event)? else {
            return Ok(());
        };
        let comment = format!(
            "trunkd: {} {} {} (event {})",
            event.resource.as_str(),
            event.resource_id,
            event.event,
            event.id
        );
        let outcome = self
            .engine
            .sync(&scope, &comment)
            .await
            .map_err(|e| DriverError::Failed(e.to_string()))?;
        tracing::debug!(
            event_id = event.id,
            changes = outcome.changes.len(),
            "ovn driver applied an event"
        );
        if event.resource == ResourceKind::Trunk
            && ACTIVATING_EVENTS.contains(&event.event.as_str())
        {
            for (trunk, revision) in &outcome.trunk_revisions {
                status
                    .report_status(*trunk, *revision, TrunkStatus::Active)
                    .await?;
            }
        }
        Ok(())
    }
}
