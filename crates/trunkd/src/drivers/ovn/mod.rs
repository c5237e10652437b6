//! The `ovn` driver: programs the OVN northbound database. Networks are Logical_Switches,
//! ports are Logical_Switch_Ports, and a subport is the port row with `parent_name` (the trunk's
//! parent port) and `tag` (its VLAN ID) set, which is how OVN models trunks. A subnet with DHCP
//! enabled is a DHCP_Options row, which its ports' `dhcpv4_options` (IPv4) or `dhcpv6_options`
//! (IPv6) refer to; as with Neutron, an IPv4 subnet needs a gateway for one and an IPv6 subnet
//! in SLAAC mode has none (see [`rows::DhcpRow::desired`]).
//!
//! What a real deployment needs besides, as Neutron's OVN driver writes it
//! ([`rows::PortRow::desired`], [`rows::PortRow::localnet`]): a port's `port_security` holds
//! its MAC and fixed IPs while its port security is enabled, so OVN drops what it sends from
//! other addresses; a bound port's `options:requested-chassis` names its `binding:host_id`, so
//! only that chassis claims it (a live migration's target waits for the binding to move); and
//! a provider network (`vlan`, `flat`) has a `localnet` port `provnet-<network id>` with
//! `options:network_name` its physical network and, for `vlan`, `tag` its VLAN ID, which takes
//! its traffic to the bridge each chassis maps that physical network to.
//!
//! A port's status is OVN's word on it ([`port_up`]): the monitor that indexes the port rows
//! also carries their `up` column, which ovn-northd sets once ovn-controller claims the port on
//! a chassis, and the driver reports each change to the service (`drivers::port_state`).
//!
//! Each outbox event is handled level-triggered: the driver reads the current state of the
//! event's networks, ports and trunks from the store and writes the difference to the database
//! in one transaction ([`sync`]), so re-applying an event, or applying an old one late, is
//! harmless. The driver sets no trunk status: a trunk's follows from its ports' (`model::health`),
//! which OVN reports as above, and the driver never refuses a trunk after commit (it refuses
//! what it cannot carry before, in `precommit`). While the database is
//! unreachable the delivery fails, the event stays in the outbox and is retried with backoff.
//! A reconciler ([`reconcile`]) compares everything on start, on every reconnection and
//! periodically, and repairs drift. Port rows are found through a name index kept by a
//! monitor ([`names`]), so reading N of them costs N hash lookups in the database, not N scans.
//!
//! With `ovn_sb_connection` the driver also keeps a session to the southbound database, the
//! dependency `ovn_sb` beside the northbound's `ovn`, and follows its `Chassis` table to warn
//! about ports whose `requested-chassis` no chassis answers to ([`chassis`]).

mod chassis;
mod names;
pub mod plan;
mod port_up;
mod reconcile;
pub mod rows;
pub mod sync;

use std::sync::Arc;
use std::time::Duration;

use async_trait::async_trait;

use super::port_state::PortStateFeed;
use super::{DriverError, Settlement, StatusReporter, TrunkChange, TrunkDriver};
use crate::model::SegmentationType;
use crate::ovsdb::{Client, Remote, Timing};
use crate::readiness::Readiness;
use crate::store::event::{Event, NetworkEvent, PortEvent, SubnetEvent};
use crate::store::{DriverReads, PendingEvent};
use crate::supervisor::TaskHandle;
use sync::{Engine, Scope};

/// `inherit` is accepted when the network's segmentation is a VLAN (see `precommit`).
pub const SEGMENTATION_TYPES: &[SegmentationType] =
    &[SegmentationType::Vlan, SegmentationType::Inherit];

/// The readiness dependency of the northbound session.
pub const NB_DEPENDENCY: &str = "ovn";
/// The readiness dependency of the southbound session (with `ovn_sb_connection`).
pub const SB_DEPENDENCY: &str = "ovn_sb";

/// Registers `client`'s session as the dependency `name`: up while it is connected. The check
/// holds a weak reference, so it does not keep a stopped driver's session alive.
fn register_session(readiness: &Readiness, name: &'static str, which: &str, client: &Arc<Client>) {
    let session = Arc::downgrade(client);
    let which = which.to_string();
    readiness
        .dependencies
        .register_check(name, move || match session.upgrade() {
            Some(client) if client.is_connected() => Ok(()),
            Some(client) => Err(format!(
                "not connected to the OVN {which} database at {}",
                client.remote()
            )),
            None => Err("the OVN driver stopped".into()),
        });
}

/// The driver's settings.
#[derive(Debug, Clone)]
pub struct OvnSettings {
    pub nb_connection: Remote,
    /// The southbound database, when configured: readiness and the chassis check.
    pub sb_connection: Option<Remote>,
    /// Time between full reconciliations.
    pub reconcile_interval: Duration,
}

pub struct OvnDriver {
    engine: Arc<Engine>,
    /// The name-index follower, the reconciler and, with a southbound database, the chassis
    /// follower; supervised, dropped with the driver.
    _background: Vec<TaskHandle>,
    /// The southbound session, when configured (dropping it stops its connecting task).
    _southbound: Option<Arc<Client>>,
}

impl OvnDriver {
    /// Connects in the background (start-up does not wait for the database) and starts the
    /// reconciler, its tasks under `readiness`'s supervisor. The northbound connection is the
    /// dependency `ovn`, the southbound one (if any) `ovn_sb`: each ready while its session is
    /// connected.
    pub fn start(
        settings: OvnSettings,
        store: Arc<dyn DriverReads>,
        readiness: &Readiness,
        port_states: PortStateFeed,
    ) -> Self {
        let client = Arc::new(Client::start_supervised(
            settings.nb_connection,
            Timing::default(),
            &readiness.tasks,
            "ovn-nb-connection",
        ));
        register_session(readiness, NB_DEPENDENCY, "northbound", &client);
        let southbound = settings.sb_connection.map(|remote| {
            let client = Arc::new(Client::start_supervised(
                remote,
                Timing::default(),
                &readiness.tasks,
                "ovn-sb-connection",
            ));
            register_session(readiness, SB_DEPENDENCY, "southbound", &client);
            client
        });
        let chassis_check = southbound
            .as_ref()
            .map(|_| chassis::ChassisCheck::default());
        let engine = Arc::new(Engine::new(client, store));
        let connected = Arc::new(tokio::sync::Notify::new());
        let (names, reconciler) = (engine.clone(), engine.clone());
        let (names_connected, interval) = (connected.clone(), settings.reconcile_interval);
        let ports_check = chassis_check.clone();
        let mut background = vec![
            readiness.tasks.spawn("ovn-ports", move || {
                reconcile::follow_ports(
                    names.clone(),
                    names_connected.clone(),
                    port_states.clone(),
                    ports_check.clone(),
                )
            }),
            readiness.tasks.spawn("ovn-reconciler", move || {
                reconcile::run(reconciler.clone(), interval, connected.clone())
            }),
        ];
        if let (Some(client), Some(check)) = (&southbound, chassis_check) {
            let client = client.clone();
            background.push(readiness.tasks.spawn("ovn-chassis", move || {
                chassis::follow_chassis(client.clone(), check.clone())
            }));
        }
        Self {
            engine,
            _background: background,
            _southbound: southbound,
        }
    }

    /// What an event asks to bring in line; `None` for events that change nothing in OVN.
    fn scope_of(event: &PendingEvent) -> Result<Option<Scope>, DriverError> {
        let bad = || DriverError::Failed(format!("event {} names a malformed id", event.id));
        let mut scope = Scope::default();
        match &event.event {
            Event::Network(
                NetworkEvent::Created(_) | NetworkEvent::Updated(_) | NetworkEvent::Deleted(_),
            ) => {
                scope
                    .networks
                    .insert(event.resource_id.parse().map_err(|_| bad())?);
            }
            Event::Port(PortEvent::Created(_) | PortEvent::Updated(_) | PortEvent::Deleted(_)) => {
                scope
                    .ports
                    .insert(event.resource_id.parse().map_err(|_| bad())?);
            }
            Event::Trunk(trunk) if trunk.kind().is_wiring() => {
                scope
                    .trunks
                    .insert(event.resource_id.parse().map_err(|_| bad())?);
                // Ports that left the trunk are no longer found through it.
                scope.ports.extend(trunk.sub_ports());
                scope.ports.extend(trunk.parent());
            }
            Event::Trunk(_) => return Ok(None),
            // A subnet's DHCP_Options row belongs to its network's rows; the network's ports
            // may change which row they refer to.
            Event::Subnet(
                SubnetEvent::Created(subnet)
                | SubnetEvent::Updated(subnet)
                | SubnetEvent::Deleted(subnet),
            ) => {
                scope.networks.insert(subnet.network_id);
                scope.subnet_networks.insert(subnet.network_id);
            }
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

    fn segmentation_types(&self) -> &'static [SegmentationType] {
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
        _status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        let Some(scope) = Self::scope_of(event)? else {
            return Ok(());
        };
        let comment = format!(
            "trunkd: {} {} {} (event {})",
            event.resource().as_str(),
            event.resource_id,
            event.event.name(),
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
        Ok(())
    }
}
