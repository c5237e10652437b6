//! Brings northbound rows in line with the store: reads both sides, plans with [`plan`], and
//! commits the plan as one transaction, reading again if a concurrent writer got in the way.
//! Used for every outbox event (a scope of a few ids) and by the reconciler (everything).

use std::collections::{BTreeMap, BTreeSet};
use std::sync::Arc;

use serde_json::{json, Value};

use super::names::NameIndex;
use super::plan::{plan, subnet_of_port, Change, Current, Desired, Plan, PortDhcp};
use super::rows::{
    localnet_name, switch_name, DhcpRow, Existing, IpVersion, PortRow, SubportPlace, SwitchRow,
    DHCP_COLUMNS, DHCP_TABLE, KEY_NETWORK_ID, KEY_SUBNET_ID, LOCALNET_PREFIX, PORT_COLUMNS,
    PORT_TABLE, SWITCH_COLUMNS, SWITCH_TABLE,
};
use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
use crate::model::{Network, Port, SegmentationType, Subnet, Trunk};
use crate::ovsdb::datum;
use crate::ovsdb::{Client, OvsdbError};
use crate::store::{DriverReads, Filter, ListQuery, StoreError, Value as QueryValue};

/// The northbound database's name in OVSDB.
pub const NB_DATABASE: &str = "OVN_Northbound";
/// How often a transaction that lost a race is planned again before the attempt fails.
const CONFLICT_RETRIES: usize = 5;

#[derive(Debug, thiserror::Error)]
pub enum SyncError {
    #[error("northbound database: {0}")]
    Ovsdb(#[from] OvsdbError),
    #[error("store: {0}")]
    Store(#[from] StoreError),
    #[error("northbound rows kept changing under {CONFLICT_RETRIES} attempts")]
    Contended,
}

/// The ids an event asks to bring in line.
#[derive(Debug, Default, Clone)]
pub struct Scope {
    pub networks: BTreeSet<NetworkId>,
    pub ports: BTreeSet<PortId>,
    /// Trunks whose parent and subports are all in scope.
    pub trunks: BTreeSet<TrunkId>,
    /// Networks whose subnets changed: all their ports are in scope too, since which
    /// DHCP_Options row each refers to may have changed.
    pub subnet_networks: BTreeSet<NetworkId>,
}

/// What a sync did.
#[derive(Debug, Default)]
pub struct Outcome {
    pub changes: Vec<Change>,
}

pub struct Engine {
    pub client: Arc<Client>,
    store: Arc<dyn DriverReads>,
    /// Where port rows are, so they are read by `_uuid` instead of by a scan for their name.
    pub names: Arc<NameIndex>,
}

/// Where each subport of `trunks` sits.
fn places(trunks: &[Trunk]) -> BTreeMap<PortId, SubportPlace> {
    trunks
        .iter()
        .flat_map(|trunk| {
            trunk.sub_ports.iter().filter_map(|subport| {
                // OVN tags only VLAN IDs; the driver refuses other subports before commit.
                (subport.segmentation_type == SegmentationType::Vlan).then_some((
                    subport.port_id,
                    SubportPlace {
                        trunk: trunk.id,
                        parent: trunk.port_id,
                        tag: subport.segmentation_id,
                    },
                ))
            })
        })
        .collect()
}

fn select(table: &str, columns: &[&str], conditions: Value) -> Value {
    let mut all = vec!["_uuid", "name"];
    all.extend_from_slice(columns);
    json!({ "op": "select", "table": table, "where": conditions, "columns": all })
}

fn rows_of(result: &Value) -> Vec<Value> {
    result
        .get("rows")
        .and_then(Value::as_array)
        .cloned()
        .unwrap_or_default()
}

fn read_switch(row: &Value) -> Option<(NetworkId, Existing<SwitchRow>)> {
    let name = row.get("name")?.as_str()?;
    let id = name.strip_prefix("neutron-")?.parse().ok()?;
    Some((id, Existing::read(row, SWITCH_COLUMNS, SwitchRow::from_nb)?))
}

fn read_port(row: &Value) -> Option<(PortId, Existing<PortRow>)> {
    let id = row.get("name")?.as_str()?.parse().ok()?;
    Some((id, Existing::read(row, PORT_COLUMNS, PortRow::from_nb)?))
}

/// A localnet port, by the network its name (`provnet-<network id>`) names.
fn read_localnet(row: &Value) -> Option<(NetworkId, Existing<PortRow>)> {
    let name = row.get("name")?.as_str()?;
    let id = name.strip_prefix(LOCALNET_PREFIX)?.parse().ok()?;
    Some((id, Existing::read(row, PORT_COLUMNS, PortRow::from_nb)?))
}

/// A DHCP_Options row trunkd wrote, by the subnet its `external_ids` name.
fn read_dhcp(row: &Value) -> Option<(SubnetId, Existing<DhcpRow>)> {
    let existing = Existing::read(row, DHCP_COLUMNS, DhcpRow::from_nb)?;
    let id = existing.row.external_ids.get(KEY_SUBNET_ID)?.parse().ok()?;
    Some((id, existing))
}

fn select_dhcp(conditions: Value) -> Value {
    let mut all = vec!["_uuid"];
    all.extend_from_slice(DHCP_COLUMNS);
    json!({ "op": "select", "table": DHCP_TABLE, "where": conditions, "columns": all })
}

/// The DHCP rows of `subnets` and which of them each of `ports` refers to.
fn dhcp_rows(
    subnets: &[Subnet],
    networks: &[Network],
    ports: &[Port],
) -> (BTreeMap<SubnetId, DhcpRow>, BTreeMap<PortId, PortDhcp>) {
    let networks: BTreeMap<NetworkId, &Network> = networks.iter().map(|n| (n.id, n)).collect();
    let mut rows = BTreeMap::new();
    // The served subnets of each network, by IP version.
    let mut served: BTreeMap<(NetworkId, IpVersion), Vec<(SubnetId, &str)>> = BTreeMap::new();
    for subnet in subnets {
        let Some(network) = networks.get(&subnet.network_id) else {
            continue;
        };
        let Some(version) = IpVersion::of_subnet(subnet) else {
            continue;
        };
        if let Some(row) = DhcpRow::desired(subnet, network) {
            rows.insert(subnet.id, row);
            served
                .entry((subnet.network_id, version))
                .or_default()
                .push((subnet.id, subnet.cidr.as_str()));
        }
    }
    let port_subnets = ports
        .iter()
        .filter_map(|port| {
            let mut refers = PortDhcp::default();
            for version in IpVersion::ALL {
                let subnets = served.get(&(port.network_id, version));
                refers.set(
                    version,
                    subnets.and_then(|s| subnet_of_port(&port.fixed_ips, version, s)),
                );
            }
            (refers != PortDhcp::default()).then_some((port.id, refers))
        })
        .collect();
    (rows, port_subnets)
}

impl Engine {
    pub fn new(client: Arc<Client>, store: Arc<dyn DriverReads>) -> Self {
        Self {
            client,
            store,
            names: Arc::default(),
        }
    }

    /// Brings the scope's rows in line, in one transaction (none when nothing differs).
    pub async fn sync(&self, scope: &Scope, comment: &str) -> Result<Outcome, SyncError> {
        for _ in 0..CONFLICT_RETRIES {
            let desired = self.desired_for(scope).await?;
            let current = self.current_for(&desired).await?;
            let plan = plan(&desired, &current);
            if self.commit(&plan, comment).await? {
                return Ok(Outcome {
                    changes: plan.changes,
                });
            }
        }
        Err(SyncError::Contended)
    }

    /// Compares everything trunkd owns in the database with the whole store and repairs what
    /// differs. Reads the database first: a row seen there was written from state that the
    /// later store read also sees, so a port created meanwhile is never taken for stale.
    pub async fn reconcile(&self) -> Result<Vec<Change>, SyncError> {
        for _ in 0..CONFLICT_RETRIES {
            let current = self.current_all().await?;
            let desired = self.desired_all().await?;
            let plan = plan(&desired, &current);
            if self.commit(&plan, "trunkd: reconcile").await? {
                return Ok(plan.changes);
            }
        }
        Err(SyncError::Contended)
    }

    /// Commits a plan; `false` when a guard failed and the caller should read again.
    async fn commit(&self, plan: &Plan, comment: &str) -> Result<bool, SyncError> {
        if plan.is_empty() {
            return Ok(true);
        }
        let mut operations = plan.operations.clone();
        operations.push(json!({ "op": "comment", "comment": comment }));
        match self.client.transact(NB_DATABASE, operations).await {
            Ok(results) => {
                self.note_inserted_ports(&plan.operations, &results);
                Ok(true)
            }
            Err(error) if error.is_conflict() => {
                tracing::debug!(%error, "northbound rows changed under a transaction; reading again");
                Ok(false)
            }
            Err(error) => Err(error.into()),
        }
    }

    /// Puts the port rows a committed plan inserted into the name index at once, so the next
    /// event finds them even before the monitor reports them.
    fn note_inserted_ports(&self, operations: &[Value], results: &[Value]) {
        for (operation, result) in operations.iter().zip(results) {
            if operation["op"] != "insert" || operation["table"] != PORT_TABLE {
                continue;
            }
            let name = operation["row"]["name"].as_str();
            let uuid = result["uuid"].as_array().and_then(|u| u.get(1)?.as_str());
            if let (Some(name), Some(uuid)) = (name, uuid) {
                self.names.inserted(name, uuid);
            }
        }
    }

    /// The store's view of a scope: trunks with their ports, ports with their networks.
    async fn desired_for(&self, scope: &Scope) -> Result<Desired, SyncError> {
        let mut tx = self.store.snapshot().await?;
        let mut trunks = Vec::new();
        let mut port_ids = scope.ports.clone();
        for id in &scope.trunks {
            if let Some(trunk) = tx.get_trunk(*id).await? {
                port_ids.insert(trunk.port_id);
                port_ids.extend(trunk.sub_ports.iter().map(|s| s.port_id));
                trunks.push(trunk);
            }
        }
        for network in &scope.subnet_networks {
            let query = ListQuery {
                filters: vec![Filter {
                    attr: "network_id",
                    values: vec![QueryValue::Text(network.to_string())],
                }],
                ..ListQuery::everything()
            };
            port_ids.extend(tx.list_ports(&query).await?.iter().map(|p| p.id));
        }
        let wanted: Vec<PortId> = port_ids.iter().copied().collect();
        let ports = tx.get_ports(&wanted).await?;
        // Subports of trunks not yet read (a port event about a subport).
        let loaded: BTreeSet<TrunkId> = trunks.iter().map(|t| t.id).collect();
        let other_trunks: BTreeSet<TrunkId> = tx
            .memberships(&wanted)
            .await?
            .into_iter()
            .filter(|m| !m.is_parent && !loaded.contains(&m.trunk_id))
            .map(|m| m.trunk_id)
            .collect();
        for id in other_trunks {
            if let Some(trunk) = tx.get_trunk(id).await? {
                trunks.push(trunk);
            }
        }
        let mut network_ids = scope.networks.clone();
        network_ids.extend(ports.iter().map(|p| p.network_id));
        let networks = tx
            .get_networks(&network_ids.iter().copied().collect::<Vec<_>>())
            .await?;
        let mut subnets = Vec::new();
        for network in &networks {
            subnets.extend(tx.subnets_of_network(network.id).await?);
        }
        drop(tx);

        let places = places(&trunks);
        let mut desired = Desired::default();
        for id in &network_ids {
            desired.switches.insert(*id, None);
            desired.localnets.insert(*id, None);
        }
        for network in &networks {
            desired
                .switches
                .insert(network.id, Some(SwitchRow::desired(network)));
            desired
                .localnets
                .insert(network.id, PortRow::localnet(network));
        }
        for id in &port_ids {
            desired.ports.insert(*id, None);
        }
        for port in &ports {
            let row = PortRow::desired(port, places.get(&port.id).copied());
            desired.ports.insert(port.id, Some((port.network_id, row)));
        }
        (desired.dhcp, desired.port_subnets) = dhcp_rows(&subnets, &networks, &ports);
        Ok(desired)
    }

    /// The whole store, as rows.
    async fn desired_all(&self) -> Result<Desired, SyncError> {
        let mut tx = self.store.snapshot().await?;
        let everything = ListQuery::everything();
        let networks = tx.list_networks(&everything).await?;
        let ports = tx.list_ports(&everything).await?;
        let trunks = tx.list_trunks(&everything).await?;
        let subnets = tx.list_subnets(&everything).await?;
        drop(tx);
        let places = places(&trunks);
        let (dhcp, port_subnets) = dhcp_rows(&subnets, &networks, &ports);
        Ok(Desired {
            dhcp,
            port_subnets,
            switches: networks
                .iter()
                .map(|n| (n.id, Some(SwitchRow::desired(n))))
                .collect(),
            localnets: networks
                .iter()
                .map(|n| (n.id, PortRow::localnet(n)))
                .collect(),
            ports: ports
                .iter()
                .map(|p| {
                    let row = PortRow::desired(p, places.get(&p.id).copied());
                    (p.id, Some((p.network_id, row)))
                })
                .collect(),
        })
    }

    /// The database rows named like the desired ones, read in one transaction.
    async fn current_for(&self, desired: &Desired) -> Result<Current, SyncError> {
        let mut operations = Vec::new();
        for id in desired.switches.keys() {
            operations.push(select(
                SWITCH_TABLE,
                SWITCH_COLUMNS,
                json!([["name", "==", switch_name(*id)]]),
            ));
        }
        // A network's DHCP rows, found by the network their external_ids name: this also finds
        // the rows of subnets gone from the store, and of a deleted network.
        for id in desired.switches.keys() {
            operations.push(select_dhcp(json!([[
                "external_ids",
                "includes",
                datum::map_of(&[(KEY_NETWORK_ID.to_string(), id.to_string())].into()),
            ]])));
        }
        // Port rows, then the localnet rows of the networks, which also carry a port's name.
        let names = desired
            .ports
            .keys()
            .map(ToString::to_string)
            .chain(desired.localnets.keys().map(|id| localnet_name(*id)));
        for name in names {
            let condition = match self.names.lookup(&name) {
                Ok(Some(uuid)) => json!([["_uuid", "==", datum::uuid(&uuid)]]),
                Ok(None) => continue, // no such row: nothing to read
                Err(()) => json!([["name", "==", name]]), // no index yet: scan
            };
            operations.push(select(PORT_TABLE, PORT_COLUMNS, condition));
        }
        if operations.is_empty() {
            return Ok(Current::default());
        }
        let results = self.client.transact(NB_DATABASE, operations).await?;
        let switch_count = desired.switches.len();
        let mut current = Current::default();
        for (index, result) in results.iter().enumerate() {
            for row in rows_of(result) {
                if index < switch_count {
                    if let Some((id, existing)) = read_switch(&row) {
                        current.add_switch(id, existing);
                    }
                } else if index < 2 * switch_count {
                    if let Some((id, existing)) = read_dhcp(&row) {
                        current.add_dhcp(id, existing);
                    }
                } else if let Some((id, existing)) = read_port(&row) {
                    current.ports.insert(id, existing);
                } else if let Some((id, existing)) = read_localnet(&row) {
                    current.localnets.insert(id, existing);
                }
            }
        }
        Ok(current)
    }

    /// Every switch and port row (a VM's or a localnet) whose name trunkd would use, and every
    /// DHCP_Options row trunkd wrote.
    async fn current_all(&self) -> Result<Current, SyncError> {
        let operations = vec![
            select(SWITCH_TABLE, SWITCH_COLUMNS, json!([])),
            select(PORT_TABLE, PORT_COLUMNS, json!([])),
            select_dhcp(json!([])),
        ];
        let results = self.client.transact(NB_DATABASE, operations).await?;
        let mut current = Current::default();
        if let [switches, ports, dhcp] = results.as_slice() {
            for row in rows_of(dhcp) {
                if let Some((id, existing)) = read_dhcp(&row) {
                    current.add_dhcp(id, existing);
                }
            }
            for row in rows_of(switches) {
                if let Some((id, existing)) = read_switch(&row) {
                    current.add_switch(id, existing);
                }
            }
            for row in rows_of(ports) {
                if let Some((id, existing)) = read_port(&row) {
                    current.ports.insert(id, existing);
                } else if let Some((id, existing)) = read_localnet(&row) {
                    current.localnets.insert(id, existing);
                }
            }
        }
        Ok(current)
    }
}
