//! Works out the one northbound transaction that brings a set of rows to the store's state:
//! pure (no I/O), so every rule is unit-tested here.
//!
//! Rules: a row is written only if what the store says differs from what the database holds;
//! a row whose recorded revision is newer than the store's view is left alone (another writer
//! acted on newer state, and an old event must never undo it); every row the transaction
//! relies on is guarded by a `wait` on the values it read, so a concurrent change makes the
//! whole transaction fail instead of being overwritten; only rows trunkd wrote are deleted.

use std::collections::{BTreeMap, BTreeSet};
use std::fmt;

use serde_json::{json, Value};

use super::rows::{
    localnet_name, recorded_revision, DhcpRow, Existing, IpVersion, Others, PortRow, RowRef,
    SwitchRow, DHCP_COLUMNS, DHCP_TABLE, KEY_SUBNET_ID, PORT_COLUMNS, PORT_TABLE, SWITCH_COLUMNS,
    SWITCH_TABLE,
};
use crate::ids::{NetworkId, PortId, SubnetId};
use crate::model::FixedIp;
use crate::ovsdb::datum;

/// What the store says, for the networks and ports in scope.
#[derive(Debug, Default, Clone)]
pub struct Desired {
    /// `None`: the network is gone from the store.
    pub switches: BTreeMap<NetworkId, Option<SwitchRow>>,
    /// `None`: the port is gone from the store.
    pub ports: BTreeMap<PortId, Option<(NetworkId, PortRow)>>,
    /// The DHCP_Options rows of the networks in scope. A row of those networks that the
    /// database holds and this map lacks is deleted, so [`Current::dhcp`] must cover the same
    /// networks.
    pub dhcp: BTreeMap<SubnetId, DhcpRow>,
    /// The subnets whose DHCP_Options rows each port refers to.
    pub port_subnets: BTreeMap<PortId, PortDhcp>,
    /// The localnet port of each network in scope; `None`: the network is gone or has no
    /// physical network. A localnet row trunkd wrote that this map does not want is deleted.
    pub localnets: BTreeMap<NetworkId, Option<PortRow>>,
}

/// The subnets whose DHCP_Options rows a port's `dhcpv4_options` and `dhcpv6_options` refer
/// to, one per IP version.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq)]
pub struct PortDhcp {
    pub v4: Option<SubnetId>,
    pub v6: Option<SubnetId>,
}

impl PortDhcp {
    pub fn set(&mut self, version: IpVersion, subnet: Option<SubnetId>) {
        match version {
            IpVersion::V4 => self.v4 = subnet,
            IpVersion::V6 => self.v6 = subnet,
        }
    }
}

/// What the database holds, for the same scope (or, for a full reconcile, everything).
#[derive(Debug, Default, Clone)]
pub struct Current {
    pub switches: BTreeMap<NetworkId, Existing<SwitchRow>>,
    pub ports: BTreeMap<PortId, Existing<PortRow>>,
    pub dhcp: BTreeMap<SubnetId, Existing<DhcpRow>>,
    /// trunkd's DHCP_Options rows beyond the first of a subnet (`add_dhcp`): left by two
    /// writers that inserted one each before inserts were guarded; the plan deletes them.
    pub extra_dhcp: Vec<(SubnetId, String)>,
    /// Localnet ports named `provnet-<network id>`, by network.
    pub localnets: BTreeMap<NetworkId, Existing<PortRow>>,
}

impl Current {
    /// Adds a DHCP_Options row read from the database. Of several rows of one subnet, trunkd's
    /// win over others and then the lowest UUID (any one would do; this one every reader
    /// picks); trunkd's others are listed in `extra_dhcp`, another system's never.
    pub fn add_dhcp(&mut self, id: SubnetId, existing: Existing<DhcpRow>) {
        let kept = match self.dhcp.remove(&id) {
            None => existing,
            Some(first) => {
                let ours = |e: &Existing<DhcpRow>| is_trunkd_row(&e.row.external_ids);
                let (kept, extra) = match (ours(&first), ours(&existing)) {
                    (true, false) => (first, existing),
                    (false, true) => (existing, first),
                    _ if first.uuid <= existing.uuid => (first, existing),
                    _ => (existing, first),
                };
                if is_trunkd_row(&extra.row.external_ids) {
                    self.extra_dhcp.push((id, extra.uuid));
                }
                kept
            }
        };
        self.dhcp.insert(id, kept);
    }

    /// Adds a switch read from the database. Switch names are not unique in OVN: of two
    /// named for the same network, the one trunkd wrote wins.
    pub fn add_switch(&mut self, id: NetworkId, existing: Existing<SwitchRow>) {
        let ours = is_trunkd_row(&existing.row.external_ids);
        if ours || !self.switches.contains_key(&id) {
            self.switches.insert(id, existing);
        }
    }
}

/// One row the plan changes, for logs.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Change {
    CreateSwitch(NetworkId),
    UpdateSwitch(NetworkId),
    DeleteSwitch(NetworkId),
    CreatePort(PortId),
    UpdatePort(PortId, Vec<&'static str>),
    DeletePort(PortId),
    CreateDhcp(SubnetId),
    UpdateDhcp(SubnetId),
    DeleteDhcp(SubnetId),
    DeleteExtraDhcp(SubnetId),
    CreateLocalnet(NetworkId),
    UpdateLocalnet(NetworkId, Vec<&'static str>),
    DeleteLocalnet(NetworkId),
}

impl fmt::Display for Change {
    fn fmt(&self, f: &mut fmt::Formatter<'_>) -> fmt::Result {
        match self {
            Change::CreateSwitch(id) => write!(f, "create Logical_Switch of network {id}"),
            Change::UpdateSwitch(id) => write!(f, "update Logical_Switch of network {id}"),
            Change::DeleteSwitch(id) => write!(f, "delete Logical_Switch of network {id}"),
            Change::CreatePort(id) => write!(f, "create Logical_Switch_Port {id}"),
            Change::UpdatePort(id, columns) => {
                write!(
                    f,
                    "update Logical_Switch_Port {id} ({})",
                    columns.join(", ")
                )
            }
            Change::DeletePort(id) => write!(f, "delete Logical_Switch_Port {id}"),
            Change::CreateDhcp(id) => write!(f, "create DHCP_Options of subnet {id}"),
            Change::UpdateDhcp(id) => write!(f, "update DHCP_Options of subnet {id}"),
            Change::DeleteDhcp(id) => write!(f, "delete DHCP_Options of subnet {id}"),
            Change::DeleteExtraDhcp(id) => {
                write!(f, "delete a second DHCP_Options row of subnet {id}")
            }
            Change::CreateLocalnet(id) => {
                write!(
                    f,
                    "create localnet Logical_Switch_Port {}",
                    localnet_name(*id)
                )
            }
            Change::UpdateLocalnet(id, columns) => write!(
                f,
                "update localnet Logical_Switch_Port {} ({})",
                localnet_name(*id),
                columns.join(", ")
            ),
            Change::DeleteLocalnet(id) => {
                write!(
                    f,
                    "delete localnet Logical_Switch_Port {}",
                    localnet_name(*id)
                )
            }
        }
    }
}

#[derive(Debug, Default)]
pub struct Plan {
    pub operations: Vec<Value>,
    pub changes: Vec<Change>,
    /// Rows left alone because the database already holds a newer revision.
    pub newer_in_database: usize,
}

impl Plan {
    pub fn is_empty(&self) -> bool {
        self.changes.is_empty()
    }
}

fn guard(table: &str, uuid: &str, columns: &[&str], guarded: &Value) -> Value {
    json!({
        "op": "wait", "table": table, "timeout": 0,
        "where": [["_uuid", "==", datum::uuid(uuid)]],
        "columns": columns, "until": "==", "rows": [guarded],
    })
}

fn is_trunkd_row(own_keys: &BTreeMap<String, String>) -> bool {
    recorded_revision(own_keys).is_some()
}

/// Whether the database row is newer than the store's view of it.
fn newer(existing_own: &BTreeMap<String, String>, desired_own: &BTreeMap<String, String>) -> bool {
    match (
        recorded_revision(existing_own),
        recorded_revision(desired_own),
    ) {
        (Some(held), Some(wanted)) => held > wanted,
        _ => false,
    }
}

/// The subnet, of `dhcp_subnets` (`(id, cidr)` of the port's network's subnets of `version`
/// that have a DHCP_Options row), that the port's first fixed IP of `version` belongs to: the
/// one its `subnet_id` names, else the one whose range holds the address.
pub fn subnet_of_port(
    fixed_ips: &[FixedIp],
    version: IpVersion,
    dhcp_subnets: &[(SubnetId, &str)],
) -> Option<SubnetId> {
    fixed_ips.iter().find_map(|ip| {
        let address: std::net::IpAddr = ip.ip_address.parse().ok()?;
        if IpVersion::of_address(&address) != version {
            return None;
        }
        let named = ip.subnet_id.as_deref().and_then(|named| {
            dhcp_subnets
                .iter()
                .find(|(id, _)| id.to_string() == named)
                .map(|(id, _)| *id)
        });
        named.or_else(|| {
            dhcp_subnets.iter().find_map(|(id, cidr)| {
                let range: ipnet::IpNet = cidr.parse().ok()?;
                range.contains(&address).then_some(*id)
            })
        })
    })
}

/// Plans the DHCP_Options rows; returns how ports refer to each row that stays.
/// A `wait` that holds while the database has no DHCP_Options row of `subnet`.
fn no_dhcp_row_of(subnet: SubnetId) -> Value {
    let key: BTreeMap<String, String> = [(KEY_SUBNET_ID.to_string(), subnet.to_string())].into();
    json!({
        "op": "wait", "table": DHCP_TABLE, "timeout": 0,
        "where": [["external_ids", "includes", datum::map_of(&key)]],
        "columns": ["_uuid"], "until": "==", "rows": [],
    })
}

fn plan_dhcp(
    desired: &Desired,
    current: &Current,
    plan: &mut Plan,
    guards: &mut Vec<Value>,
    dhcp_ops: &mut Vec<Value>,
) -> BTreeMap<SubnetId, RowRef> {
    let mut refs = BTreeMap::new();
    for (id, uuid) in &current.extra_dhcp {
        // Ports referring to it are pointed at the kept row below (references are weak).
        dhcp_ops.push(json!({
            "op": "delete", "table": DHCP_TABLE,
            "where": [["_uuid", "==", datum::uuid(uuid)]],
        }));
        plan.changes.push(Change::DeleteExtraDhcp(*id));
    }
    let ids: BTreeSet<SubnetId> = desired
        .dhcp
        .keys()
        .chain(current.dhcp.keys())
        .copied()
        .collect();
    for id in ids {
        match (desired.dhcp.get(&id), current.dhcp.get(&id)) {
            (Some(row), None) => {
                // DHCP_Options has no unique index: without this guard, two writers that both
                // found no row (an event's delivery and the reconciler) would insert one each.
                guards.push(no_dhcp_row_of(id));
                let name = format!("dhcp{}", dhcp_ops.len());
                dhcp_ops.push(json!({
                    "op": "insert", "table": DHCP_TABLE, "uuid-name": name,
                    "row": row.to_nb(&Others::default()),
                }));
                refs.insert(id, RowRef::Named(name));
                plan.changes.push(Change::CreateDhcp(id));
            }
            (Some(row), Some(existing)) => {
                refs.insert(id, RowRef::Uuid(existing.uuid.clone()));
                if newer(&existing.row.external_ids, &row.external_ids) {
                    plan.newer_in_database += 1;
                } else if existing.row != *row {
                    guards.push(guard(
                        DHCP_TABLE,
                        &existing.uuid,
                        DHCP_COLUMNS,
                        &existing.guarded,
                    ));
                    dhcp_ops.push(json!({
                        "op": "update", "table": DHCP_TABLE,
                        "where": [["_uuid", "==", datum::uuid(&existing.uuid)]],
                        "row": row.to_nb(&existing.others),
                    }));
                    plan.changes.push(Change::UpdateDhcp(id));
                }
            }
            (None, Some(existing)) => {
                // Ports' references to it are weak: the database clears them.
                if is_trunkd_row(&existing.row.external_ids) {
                    dhcp_ops.push(json!({
                        "op": "delete", "table": DHCP_TABLE,
                        "where": [["_uuid", "==", datum::uuid(&existing.uuid)]],
                    }));
                    plan.changes.push(Change::DeleteDhcp(id));
                }
            }
            (None, None) => {}
        }
    }
    refs
}

/// What planning one Logical_Switch_Port row decided.
#[derive(Debug, Clone, PartialEq, Eq)]
enum RowChange {
    Create,
    /// The columns that differ.
    Update(Vec<&'static str>),
    Delete,
}

/// Plans Logical_Switch_Port rows, a VM's port or a provider network's localnet port alike:
/// a new row joins its network's switch, an existing one is updated under a guard, and a row
/// trunkd wrote that the store no longer wants leaves its switch (and so the database).
struct PortPlanner<'a> {
    /// The switches the database holds.
    switches: &'a BTreeMap<NetworkId, Existing<SwitchRow>>,
    /// Switches this plan inserts, by their named uuid.
    inserted_switches: &'a BTreeMap<NetworkId, String>,
    /// Switches already guarded by this plan.
    guarded_switches: BTreeSet<NetworkId>,
    guards: Vec<Value>,
    ops: Vec<Value>,
    /// The named uuids of the rows this plan inserts, by the network whose switch takes them.
    new_ports_of: BTreeMap<NetworkId, Vec<Value>>,
    newer_in_database: usize,
}

impl PortPlanner<'_> {
    /// Plans one row: `wanted` on its network's switch (`None`: the store wants no such row),
    /// `held` as the database has it. `None` when nothing is written.
    fn row(
        &mut self,
        wanted: Option<(NetworkId, &PortRow)>,
        held: Option<&Existing<PortRow>>,
    ) -> Option<RowChange> {
        match (wanted, held) {
            (Some((network, row)), None) => {
                if let Some(existing) = self.switches.get(&network) {
                    // The port joins this switch: it must still be there at commit.
                    if self.guarded_switches.insert(network) {
                        self.guards.push(guard(
                            SWITCH_TABLE,
                            &existing.uuid,
                            SWITCH_COLUMNS,
                            &existing.guarded,
                        ));
                    }
                } else if !self.inserted_switches.contains_key(&network) {
                    // The caller always puts a port's network in scope; without a switch to
                    // hold it, the port cannot be created now.
                    return None;
                }
                let name = format!("lsp{}", self.ops.len());
                self.ops.push(json!({
                    "op": "insert", "table": PORT_TABLE, "uuid-name": name,
                    "row": row.to_nb(&Others::default()),
                }));
                self.new_ports_of
                    .entry(network)
                    .or_default()
                    .push(datum::named_uuid(&name));
                Some(RowChange::Create)
            }
            (Some((_, row)), Some(existing)) => {
                if newer(&existing.row.external_ids, &row.external_ids) {
                    self.newer_in_database += 1;
                    return None;
                }
                if existing.row == *row {
                    return None;
                }
                self.guards.push(guard(
                    PORT_TABLE,
                    &existing.uuid,
                    PORT_COLUMNS,
                    &existing.guarded,
                ));
                let mut columns = row.to_nb(&existing.others);
                if let Some(object) = columns.as_object_mut() {
                    object.remove("name");
                }
                self.ops.push(json!({
                    "op": "update", "table": PORT_TABLE,
                    "where": [["_uuid", "==", datum::uuid(&existing.uuid)]],
                    "row": columns,
                }));
                Some(RowChange::Update(row.differences(&existing.row)))
            }
            (None, Some(existing)) => {
                if !is_trunkd_row(&existing.row.external_ids) {
                    return None; // somebody else's port: not ours to delete
                }
                // A port row lives as long as a switch refers to it.
                self.ops.push(json!({
                    "op": "mutate", "table": SWITCH_TABLE,
                    "where": [["ports", "includes", datum::uuid(&existing.uuid)]],
                    "mutations": [["ports", "delete", datum::set_of([datum::uuid(&existing.uuid)])]],
                }));
                Some(RowChange::Delete)
            }
            (None, None) => None,
        }
    }
}

/// Plans the transaction; an empty plan means the database already agrees.
pub fn plan(desired: &Desired, current: &Current) -> Plan {
    let mut plan = Plan::default();
    let mut guards = Vec::new();
    let mut dhcp_ops = Vec::new();
    let dhcp_refs = plan_dhcp(desired, current, &mut plan, &mut guards, &mut dhcp_ops);
    // Rows a port refers to must still be there at commit.
    let mut guarded_dhcp: BTreeSet<SubnetId> = BTreeSet::new();
    let mut switch_ops = Vec::new();
    // Switches this plan inserts, by their named uuid.
    let mut inserted_switches: BTreeMap<NetworkId, String> = BTreeMap::new();
    let mut guarded_switches: BTreeSet<NetworkId> = BTreeSet::new();

    let switch_ids: BTreeSet<NetworkId> = desired
        .switches
        .keys()
        .chain(current.switches.keys())
        .copied()
        .collect();
    for id in switch_ids {
        let wanted = desired.switches.get(&id).and_then(Option::as_ref);
        match (wanted, current.switches.get(&id)) {
            (Some(row), None) => {
                let name = format!("ls{}", inserted_switches.len());
                guards.push(json!({
                    "op": "wait", "table": SWITCH_TABLE, "timeout": 0,
                    "where": [["name", "==", row.name]], "columns": ["name"],
                    "until": "==", "rows": [],
                }));
                inserted_switches.insert(id, name);
                plan.changes.push(Change::CreateSwitch(id));
            }
            (Some(row), Some(existing)) => {
                if newer(&existing.row.external_ids, &row.external_ids) {
                    plan.newer_in_database += 1;
                } else if existing.row != *row {
                    guards.push(guard(
                        SWITCH_TABLE,
                        &existing.uuid,
                        SWITCH_COLUMNS,
                        &existing.guarded,
                    ));
                    guarded_switches.insert(id);
                    switch_ops.push(json!({
                        "op": "update", "table": SWITCH_TABLE,
                        "where": [["_uuid", "==", datum::uuid(&existing.uuid)]],
                        "row": { "external_ids": row.to_nb(&existing.others)["external_ids"] },
                    }));
                    plan.changes.push(Change::UpdateSwitch(id));
                }
            }
            (None, Some(existing)) => {
                // Gone from the store: delete it if trunkd wrote it.
                if is_trunkd_row(&existing.row.external_ids) {
                    switch_ops.push(json!({
                        "op": "delete", "table": SWITCH_TABLE,
                        "where": [["_uuid", "==", datum::uuid(&existing.uuid)]],
                    }));
                    plan.changes.push(Change::DeleteSwitch(id));
                }
            }
            (None, None) => {}
        }
    }

    let mut ports = PortPlanner {
        switches: &current.switches,
        inserted_switches: &inserted_switches,
        guarded_switches,
        guards: Vec::new(),
        ops: Vec::new(),
        new_ports_of: BTreeMap::new(),
        newer_in_database: 0,
    };
    let port_ids: BTreeSet<PortId> = desired
        .ports
        .keys()
        .chain(current.ports.keys())
        .copied()
        .collect();
    for id in port_ids {
        let subnets = desired.port_subnets.get(&id).copied().unwrap_or_default();
        let reference = |subnet: Option<SubnetId>| subnet.and_then(|s| dhcp_refs.get(&s)).cloned();
        let resolved = desired
            .ports
            .get(&id)
            .and_then(Option::as_ref)
            .map(|(network, row)| {
                let mut row = row.clone();
                row.dhcpv4_options = reference(subnets.v4);
                row.dhcpv6_options = reference(subnets.v6);
                (*network, row)
            });
        if let Some((_, row)) = &resolved {
            let written = current.ports.get(&id).map(|e| &e.row) != Some(row);
            let referred = [
                (subnets.v4, &row.dhcpv4_options),
                (subnets.v6, &row.dhcpv6_options),
            ];
            for (subnet, reference) in referred {
                let Some(subnet) = subnet else { continue };
                let relies_on_existing = matches!(reference, Some(RowRef::Uuid(_)));
                if relies_on_existing && written && guarded_dhcp.insert(subnet) {
                    if let Some(existing) = current.dhcp.get(&subnet) {
                        guards.push(guard(
                            DHCP_TABLE,
                            &existing.uuid,
                            DHCP_COLUMNS,
                            &existing.guarded,
                        ));
                    }
                }
            }
        }
        let wanted = resolved.as_ref().map(|(network, row)| (*network, row));
        if let Some(change) = ports.row(wanted, current.ports.get(&id)) {
            plan.changes.push(match change {
                RowChange::Create => Change::CreatePort(id),
                RowChange::Update(columns) => Change::UpdatePort(id, columns),
                RowChange::Delete => Change::DeletePort(id),
            });
        }
    }

    // Localnet ports, one per provider network.
    let localnet_ids: BTreeSet<NetworkId> = desired
        .localnets
        .keys()
        .chain(current.localnets.keys())
        .copied()
        .collect();
    for id in localnet_ids {
        let wanted = desired
            .localnets
            .get(&id)
            .and_then(Option::as_ref)
            .map(|row| (id, row));
        if let Some(change) = ports.row(wanted, current.localnets.get(&id)) {
            plan.changes.push(match change {
                RowChange::Create => Change::CreateLocalnet(id),
                RowChange::Update(columns) => Change::UpdateLocalnet(id, columns),
                RowChange::Delete => Change::DeleteLocalnet(id),
            });
        }
    }
    let PortPlanner {
        guards: port_guards,
        ops: port_ops,
        mut new_ports_of,
        newer_in_database,
        ..
    } = ports;
    guards.extend(port_guards);
    plan.newer_in_database += newer_in_database;

    // Attach new ports: in the insert of a new switch, or by a mutate of an existing one.
    for (network, switch_name) in &inserted_switches {
        let Some(Some(row)) = desired.switches.get(network) else {
            continue;
        };
        let mut columns = row.to_nb(&Others::default());
        let ports = new_ports_of.remove(network).unwrap_or_default();
        columns["ports"] = datum::set_of(ports);
        switch_ops.push(json!({
            "op": "insert", "table": SWITCH_TABLE, "uuid-name": switch_name, "row": columns,
        }));
    }
    for (network, ports) in new_ports_of {
        if let Some(existing) = current.switches.get(&network) {
            switch_ops.push(json!({
                "op": "mutate", "table": SWITCH_TABLE,
                "where": [["_uuid", "==", datum::uuid(&existing.uuid)]],
                "mutations": [["ports", "insert", datum::set_of(ports)]],
            }));
        }
    }

    if !plan.changes.is_empty() {
        plan.operations = guards;
        // Inserts come before the operations that name them.
        plan.operations.extend(dhcp_ops);
        plan.operations.extend(port_ops);
        plan.operations.extend(switch_ops);
    }
    plan
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::drivers::ovn::rows::{
        KEY_NETWORK_ID, KEY_REVISION, KEY_SUBNET_ID, KEY_TRUNK_ID, LOCALNET, OPTION_NETWORK_NAME,
        OPTION_REQUESTED_CHASSIS,
    };

    fn own(revision: i64) -> BTreeMap<String, String> {
        [(KEY_REVISION.to_string(), revision.to_string())]
            .into_iter()
            .collect()
    }

    fn port_row(id: PortId, revision: i64, tag: Option<i64>) -> PortRow {
        let mut external_ids = own(revision);
        if tag.is_some() {
            external_ids.insert(KEY_TRUNK_ID.into(), "t".into());
        }
        PortRow {
            name: id.to_string(),
            kind: String::new(),
            addresses: vec!["fa:16:3e:00:00:01".into()],
            port_security: vec!["fa:16:3e:00:00:01".into()],
            enabled: Some(true),
            options: BTreeMap::new(),
            parent_name: tag.map(|_| "parent".to_string()),
            tag,
            dhcpv4_options: None,
            dhcpv6_options: None,
            external_ids,
        }
    }

    /// The row as the database would return it from a select.
    fn in_database<R>(
        row_json: Value,
        uuid: &str,
        columns: &[&str],
        parse: impl Fn(&Value) -> R,
    ) -> Existing<R> {
        let mut row = row_json;
        row["_uuid"] = datum::uuid(uuid);
        Existing::read(&row, columns, parse).expect("row with a uuid")
    }

    fn existing_port(row: &PortRow, uuid: &str) -> Existing<PortRow> {
        in_database(
            row.to_nb(&Others::default()),
            uuid,
            PORT_COLUMNS,
            PortRow::from_nb,
        )
    }

    fn existing_switch(row: &SwitchRow, uuid: &str) -> Existing<SwitchRow> {
        in_database(
            row.to_nb(&Others::default()),
            uuid,
            SWITCH_COLUMNS,
            SwitchRow::from_nb,
        )
    }

    fn switch_row(id: NetworkId, revision: i64) -> SwitchRow {
        SwitchRow {
            name: super::super::rows::switch_name(id),
            external_ids: own(revision),
        }
    }

    fn ops_named<'a>(plan: &'a Plan, op: &str) -> Vec<&'a Value> {
        plan.operations.iter().filter(|o| o["op"] == op).collect()
    }

    #[test]
    fn nothing_to_do_when_the_database_agrees() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let row = port_row(port, 3, Some(10));
        let desired = Desired {
            switches: [(network, Some(switch_row(network, 1)))].into(),
            ports: [(port, Some((network, row.clone())))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: [(network, existing_switch(&switch_row(network, 1), "s"))].into(),
            ports: [(port, existing_port(&row, "p"))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert!(plan.is_empty());
        assert!(plan.operations.is_empty());
    }

    #[test]
    fn a_new_switch_and_its_ports_are_inserted_together() {
        let (network, a, b) = (NetworkId::new(), PortId::new(), PortId::new());
        let desired = Desired {
            switches: [(network, Some(switch_row(network, 1)))].into(),
            ports: [
                (a, Some((network, port_row(a, 1, None)))),
                (b, Some((network, port_row(b, 1, Some(5))))),
            ]
            .into(),
            ..Default::default()
        };
        let plan = plan(&desired, &Current::default());
        let inserts = ops_named(&plan, "insert");
        assert_eq!(inserts.len(), 3);
        let switch = inserts
            .iter()
            .find(|o| o["table"] == SWITCH_TABLE)
            .expect("switch insert");
        let members = datum::set_members(&switch["row"]["ports"]);
        let port_names: Vec<&Value> = inserts
            .iter()
            .filter(|o| o["table"] == PORT_TABLE)
            .map(|o| &o["uuid-name"])
            .collect();
        assert_eq!(members.len(), 2);
        for name in port_names {
            assert!(
                members.contains(&json!(["named-uuid", name])),
                "{members:?}"
            );
        }
        // The switch name is not unique in OVN: the insert is guarded against a twin.
        assert_eq!(ops_named(&plan, "wait").len(), 1);
    }

    #[test]
    fn a_port_joining_an_existing_switch_guards_that_switch() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let desired = Desired {
            switches: [(network, Some(switch_row(network, 1)))].into(),
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: [(network, existing_switch(&switch_row(network, 1), "s-uuid"))].into(),
            ports: BTreeMap::new(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert_eq!(plan.changes, vec![Change::CreatePort(port)]);
        let waits = ops_named(&plan, "wait");
        assert_eq!(waits.len(), 1);
        assert_eq!(waits[0]["where"][0][2], json!(["uuid", "s-uuid"]));
        let mutate = ops_named(&plan, "mutate");
        assert_eq!(mutate[0]["mutations"][0][1], "insert");
    }

    #[test]
    fn an_older_database_row_is_updated_under_a_guard() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let held = port_row(port, 2, None);
        let wanted = port_row(port, 3, Some(42));
        let desired = Desired {
            switches: BTreeMap::new(),
            ports: [(port, Some((network, wanted)))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: BTreeMap::new(),
            ports: [(port, existing_port(&held, "p-uuid"))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert_eq!(
            plan.changes,
            vec![Change::UpdatePort(
                port,
                vec!["parent_name", "tag", "external_ids"]
            )]
        );
        let wait = ops_named(&plan, "wait")[0];
        assert_eq!(wait["rows"][0], existing_port(&held, "p-uuid").guarded);
        let update = ops_named(&plan, "update")[0];
        assert_eq!(update["row"]["tag"], json!(["set", [42]]));
        assert!(update["row"].get("name").is_none());
    }

    #[test]
    fn a_newer_database_row_is_left_alone() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let held = port_row(port, 9, Some(42));
        let stale_view = port_row(port, 4, None);
        let desired = Desired {
            switches: BTreeMap::new(),
            ports: [(port, Some((network, stale_view)))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: BTreeMap::new(),
            ports: [(port, existing_port(&held, "p"))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert!(plan.is_empty());
        assert_eq!(plan.newer_in_database, 1);
    }

    #[test]
    fn a_hand_edit_at_the_same_revision_is_repaired() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let wanted = port_row(port, 5, Some(42));
        let mut edited = wanted.clone();
        edited.tag = Some(7);
        let desired = Desired {
            switches: BTreeMap::new(),
            ports: [(port, Some((network, wanted)))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: BTreeMap::new(),
            ports: [(port, existing_port(&edited, "p"))].into(),
            ..Default::default()
        };
        assert_eq!(
            plan(&desired, &current).changes,
            vec![Change::UpdatePort(port, vec!["tag"])]
        );
    }

    #[test]
    fn only_rows_trunkd_wrote_are_deleted() {
        let (network, ours, theirs) = (NetworkId::new(), PortId::new(), PortId::new());
        let mut foreign = port_row(theirs, 1, None);
        foreign.external_ids.clear();
        let foreign_switch = SwitchRow {
            name: super::super::rows::switch_name(network),
            external_ids: BTreeMap::new(),
        };
        let current = Current {
            switches: [(network, existing_switch(&foreign_switch, "s"))].into(),
            ports: [
                (ours, existing_port(&port_row(ours, 1, None), "p1")),
                (theirs, existing_port(&foreign, "p2")),
            ]
            .into(),
            ..Default::default()
        };
        let plan = plan(&Desired::default(), &current);
        assert_eq!(plan.changes, vec![Change::DeletePort(ours)]);
        let mutate = ops_named(&plan, "mutate")[0];
        assert_eq!(
            mutate["where"][0],
            json!(["ports", "includes", ["uuid", "p1"]])
        );
    }

    #[test]
    fn keys_others_wrote_survive_an_update() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let mut row_json = port_row(port, 1, None).to_nb(&Others::default());
        row_json["external_ids"] = datum::map_of(
            &[
                (KEY_REVISION.to_string(), "1".to_string()),
                ("neutron:cidrs".to_string(), "10.0.0.5/24".to_string()),
            ]
            .into(),
        );
        let held = in_database(row_json, "p", PORT_COLUMNS, PortRow::from_nb);
        let desired = Desired {
            switches: BTreeMap::new(),
            ports: [(port, Some((network, port_row(port, 2, None))))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: BTreeMap::new(),
            ports: [(port, held)].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        let update = ops_named(&plan, "update")[0];
        let ids = datum::string_map(update["row"].get("external_ids"));
        assert_eq!(
            ids.get("neutron:cidrs").map(String::as_str),
            Some("10.0.0.5/24")
        );
        assert_eq!(ids.get(KEY_REVISION).map(String::as_str), Some("2"));
    }

    fn dhcp_row(subnet: SubnetId, dns: &str) -> DhcpRow {
        let mut external_ids = own(1);
        external_ids.insert(KEY_SUBNET_ID.into(), subnet.to_string());
        DhcpRow {
            cidr: "10.0.0.0/24".into(),
            options: [("dns_server".to_string(), dns.to_string())].into(),
            external_ids,
        }
    }

    fn existing_dhcp(row: &DhcpRow, uuid: &str) -> Existing<DhcpRow> {
        in_database(
            row.to_nb(&Others::default()),
            uuid,
            DHCP_COLUMNS,
            DhcpRow::from_nb,
        )
    }

    fn v4_only(subnet: SubnetId) -> PortDhcp {
        PortDhcp {
            v4: Some(subnet),
            v6: None,
        }
    }

    fn fixed_ip(subnet: Option<SubnetId>, address: &str) -> FixedIp {
        FixedIp {
            subnet_id: subnet.map(|s| s.to_string()),
            ip_address: address.into(),
        }
    }

    #[test]
    fn a_port_belongs_to_the_subnet_it_names_or_whose_range_holds_it() {
        let (a, b) = (SubnetId::new(), SubnetId::new());
        let served = [(a, "10.0.0.0/24"), (b, "10.1.0.0/24")];
        let v4 = |ips: &[FixedIp]| subnet_of_port(ips, IpVersion::V4, &served);
        assert_eq!(v4(&[fixed_ip(None, "10.1.0.9")]), Some(b));
        assert_eq!(
            v4(&[fixed_ip(Some(a), "10.1.0.9")]),
            Some(a),
            "the named subnet wins"
        );
        assert_eq!(
            v4(&[fixed_ip(None, "fd00::5"), fixed_ip(None, "10.0.0.7")]),
            Some(a),
            "IPv6 addresses are skipped"
        );
        assert_eq!(v4(&[fixed_ip(None, "10.2.0.1")]), None);
        assert_eq!(v4(&[]), None);
    }

    #[test]
    fn a_port_belongs_to_an_ipv6_subnet_by_its_ipv6_addresses() {
        let (a, b) = (SubnetId::new(), SubnetId::new());
        let served = [(a, "2001:db8::/64"), (b, "2001:db8:1::/64")];
        let v6 = |ips: &[FixedIp]| subnet_of_port(ips, IpVersion::V6, &served);
        assert_eq!(
            v6(&[fixed_ip(None, "10.0.0.7"), fixed_ip(None, "2001:db8:1::9")]),
            Some(b),
            "IPv4 addresses are skipped"
        );
        assert_eq!(v6(&[fixed_ip(Some(a), "2001:db8::5")]), Some(a));
        assert_eq!(
            v6(&[fixed_ip(None, "fd00::1"), fixed_ip(None, "2001:db8::5")]),
            Some(a),
            "the first address of a served subnet"
        );
        assert_eq!(v6(&[fixed_ip(None, "10.0.0.7")]), None);
        // An IPv4 address is never in an IPv6 range, nor the other way round.
        assert_eq!(
            subnet_of_port(
                &[fixed_ip(None, "2001:db8::5")],
                IpVersion::V4,
                &[(a, "10.0.0.0/24")]
            ),
            None
        );
    }

    #[test]
    fn a_port_refers_to_its_ipv4_and_ipv6_rows() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let (v4, v6) = (SubnetId::new(), SubnetId::new());
        let mut v6_row = dhcp_row(v6, "{2001:db8::53}");
        v6_row.cidr = "2001:db8::/64".into();
        let desired = Desired {
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(v4, dhcp_row(v4, "{8.8.8.8}")), (v6, v6_row.clone())].into(),
            port_subnets: [(
                port,
                PortDhcp {
                    v4: Some(v4),
                    v6: Some(v6),
                },
            )]
            .into(),
            ..Default::default()
        };
        // The IPv6 row is new (inserted and named), the IPv4 one exists (guarded).
        let current = Current {
            ports: [(port, existing_port(&port_row(port, 1, None), "p"))].into(),
            dhcp: [(v4, existing_dhcp(&dhcp_row(v4, "{8.8.8.8}"), "d4"))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert_eq!(
            plan.changes,
            vec![
                Change::CreateDhcp(v6),
                Change::UpdatePort(port, vec!["dhcpv4_options", "dhcpv6_options"])
            ]
        );
        let insert = ops_named(&plan, "insert")[0];
        let name = insert["uuid-name"].as_str().expect("uuid-name");
        let update = ops_named(&plan, "update")[0];
        assert_eq!(
            update["row"]["dhcpv4_options"],
            datum::set_of([datum::uuid("d4")])
        );
        assert_eq!(
            update["row"]["dhcpv6_options"],
            datum::set_of([datum::named_uuid(name)])
        );
        assert!(ops_named(&plan, "wait")
            .iter()
            .any(|w| w["table"] == DHCP_TABLE && w["where"][0][2] == datum::uuid("d4")));
    }

    #[test]
    fn a_wrong_or_missing_dhcpv6_reference_is_repaired() {
        let (network, port, subnet) = (NetworkId::new(), PortId::new(), SubnetId::new());
        let row = dhcp_row(subnet, "{2001:db8::53}");
        let desired = Desired {
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(subnet, row.clone())].into(),
            port_subnets: [(
                port,
                PortDhcp {
                    v4: None,
                    v6: Some(subnet),
                },
            )]
            .into(),
            ..Default::default()
        };
        for held in [None, Some(RowRef::Uuid("elsewhere".into()))] {
            let mut edited = port_row(port, 1, None);
            edited.dhcpv6_options = held;
            let current = Current {
                ports: [(port, existing_port(&edited, "p"))].into(),
                dhcp: [(subnet, existing_dhcp(&row, "d6"))].into(),
                ..Default::default()
            };
            let plan = plan(&desired, &current);
            assert_eq!(
                plan.changes,
                vec![Change::UpdatePort(port, vec!["dhcpv6_options"])]
            );
            let update = ops_named(&plan, "update")[0];
            assert_eq!(
                update["row"]["dhcpv6_options"],
                datum::set_of([datum::uuid("d6")])
            );
            assert_eq!(update["row"]["dhcpv4_options"], datum::set_of([]));
        }
        // Once right, nothing to do.
        let mut right = port_row(port, 1, None);
        right.dhcpv6_options = Some(RowRef::Uuid("d6".into()));
        let current = Current {
            ports: [(port, existing_port(&right, "p"))].into(),
            dhcp: [(subnet, existing_dhcp(&row, "d6"))].into(),
            ..Default::default()
        };
        assert!(plan(&desired, &current).is_empty());
    }

    #[test]
    fn a_new_dhcp_row_and_a_new_port_refer_by_named_uuid_in_one_transaction() {
        let (network, port, subnet) = (NetworkId::new(), PortId::new(), SubnetId::new());
        let switch = SwitchRow {
            name: super::super::rows::switch_name(network),
            external_ids: own(1),
        };
        let desired = Desired {
            switches: [(network, Some(switch.clone()))].into(),
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(subnet, dhcp_row(subnet, "{8.8.8.8}"))].into(),
            port_subnets: [(port, v4_only(subnet))].into(),
            ..Default::default()
        };
        let current = Current {
            switches: [(network, existing_switch(&switch, "s"))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert_eq!(
            plan.changes,
            vec![Change::CreateDhcp(subnet), Change::CreatePort(port)]
        );
        let inserts = ops_named(&plan, "insert");
        assert_eq!(
            inserts[0]["table"], DHCP_TABLE,
            "inserted before it is named"
        );
        let name = inserts[0]["uuid-name"].as_str().expect("uuid-name");
        assert_eq!(
            inserts[1]["row"]["dhcpv4_options"],
            datum::set_of([datum::named_uuid(name)])
        );
        // The insert holds only while no other writer inserted the subnet's row first.
        let waits = ops_named(&plan, "wait");
        let on_dhcp: Vec<&Value> = waits
            .into_iter()
            .filter(|op| op["table"] == DHCP_TABLE)
            .collect();
        assert_eq!(on_dhcp.len(), 1, "{:?}", plan.operations);
        assert_eq!(on_dhcp[0]["rows"], json!([]));
        assert!(
            on_dhcp[0]["where"]
                .to_string()
                .contains(&subnet.to_string()),
            "{}",
            on_dhcp[0]
        );
    }

    #[test]
    fn a_port_refers_to_the_existing_row_which_is_guarded() {
        let (network, port, subnet) = (NetworkId::new(), PortId::new(), SubnetId::new());
        let row = dhcp_row(subnet, "{8.8.8.8}");
        let desired = Desired {
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(subnet, row.clone())].into(),
            port_subnets: [(port, v4_only(subnet))].into(),
            ..Default::default()
        };
        let current = Current {
            ports: [(port, existing_port(&port_row(port, 1, None), "p"))].into(),
            dhcp: [(subnet, existing_dhcp(&row, "d"))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert_eq!(
            plan.changes,
            vec![Change::UpdatePort(port, vec!["dhcpv4_options"])]
        );
        let update = ops_named(&plan, "update")[0];
        assert_eq!(
            update["row"]["dhcpv4_options"],
            datum::set_of([datum::uuid("d")])
        );
        assert!(ops_named(&plan, "wait")
            .iter()
            .any(|w| w["table"] == DHCP_TABLE && w["where"][0][2] == datum::uuid("d")));
    }

    #[test]
    fn changed_options_update_the_row_and_a_gone_subnet_deletes_it() {
        let (port, kept, gone) = (PortId::new(), SubnetId::new(), SubnetId::new());
        let network = NetworkId::new();
        let mut referring = port_row(port, 1, None);
        referring.dhcpv4_options = Some(RowRef::Uuid("g".into()));
        let mut foreign = dhcp_row(SubnetId::new(), "{1.1.1.1}");
        foreign.external_ids.remove(KEY_REVISION);
        let foreign_id = SubnetId::new();
        let desired = Desired {
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(kept, dhcp_row(kept, "{9.9.9.9}"))].into(),
            ..Default::default()
        };
        let current = Current {
            ports: [(port, existing_port(&referring, "p"))].into(),
            dhcp: [
                (kept, existing_dhcp(&dhcp_row(kept, "{8.8.8.8}"), "k")),
                (gone, existing_dhcp(&dhcp_row(gone, "{8.8.8.8}"), "g")),
                (foreign_id, existing_dhcp(&foreign, "f")),
            ]
            .into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        let mut changes = plan.changes.clone();
        changes.sort_by_key(|c| c.to_string());
        let mut expected = vec![
            Change::UpdateDhcp(kept),
            Change::DeleteDhcp(gone),
            Change::UpdatePort(port, vec!["dhcpv4_options"]),
        ];
        expected.sort_by_key(|c| c.to_string());
        assert_eq!(changes, expected, "a row trunkd did not write is kept");
        let update = ops_named(&plan, "update")
            .into_iter()
            .find(|op| op["table"] == DHCP_TABLE)
            .expect("DHCP update");
        assert_eq!(
            datum::string_map(update["row"].get("options")).get("dns_server"),
            Some(&"{9.9.9.9}".to_string())
        );
        // The port's reference is cleared in the same transaction (the database would clear a
        // weak reference anyway).
        let port_update = ops_named(&plan, "update")
            .into_iter()
            .find(|op| op["table"] == PORT_TABLE)
            .expect("port update");
        assert_eq!(port_update["row"]["dhcpv4_options"], datum::set_of([]));
    }

    #[test]
    fn an_agreeing_database_plans_nothing_with_dhcp() {
        let (network, port, subnet) = (NetworkId::new(), PortId::new(), SubnetId::new());
        let row = dhcp_row(subnet, "{8.8.8.8}");
        let mut referring = port_row(port, 1, None);
        referring.dhcpv4_options = Some(RowRef::Uuid("d".into()));
        let desired = Desired {
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(subnet, row.clone())].into(),
            port_subnets: [(port, v4_only(subnet))].into(),
            ..Default::default()
        };
        let current = Current {
            ports: [(port, existing_port(&referring, "p"))].into(),
            dhcp: [(subnet, existing_dhcp(&row, "d"))].into(),
            ..Default::default()
        };
        assert!(plan(&desired, &current).is_empty());
    }

    #[test]
    fn a_second_row_of_a_subnet_is_deleted_and_its_ports_moved_to_the_first() {
        let (network, port, subnet) = (NetworkId::new(), PortId::new(), SubnetId::new());
        let row = dhcp_row(subnet, "{8.8.8.8}");
        // The port refers to the row that goes ("b"); "a" stays, whatever the read order.
        let mut referring = port_row(port, 1, None);
        referring.dhcpv4_options = Some(RowRef::Uuid("b".into()));
        let desired = Desired {
            ports: [(port, Some((network, port_row(port, 1, None))))].into(),
            dhcp: [(subnet, row.clone())].into(),
            port_subnets: [(port, v4_only(subnet))].into(),
            ..Default::default()
        };
        let mut current = Current {
            ports: [(port, existing_port(&referring, "p"))].into(),
            ..Default::default()
        };
        current.add_dhcp(subnet, existing_dhcp(&row, "b"));
        current.add_dhcp(subnet, existing_dhcp(&row, "a"));
        assert_eq!(current.extra_dhcp, vec![(subnet, "b".to_string())]);
        let plan = plan(&desired, &current);
        assert_eq!(
            plan.changes,
            vec![
                Change::DeleteExtraDhcp(subnet),
                Change::UpdatePort(port, vec!["dhcpv4_options"])
            ]
        );
        let deletes = ops_named(&plan, "delete");
        assert_eq!(deletes.len(), 1);
        assert_eq!(deletes[0]["where"][0][2], datum::uuid("b"));
        let update = ops_named(&plan, "update")[0];
        assert_eq!(
            update["row"]["dhcpv4_options"],
            datum::set_of([datum::uuid("a")])
        );
        // A row another system wrote is never deleted, nor kept over trunkd's.
        let mut foreign = row.clone();
        foreign.external_ids.clear();
        let mut current = Current::default();
        current.add_dhcp(subnet, existing_dhcp(&foreign, "0"));
        current.add_dhcp(subnet, existing_dhcp(&row, "a"));
        assert!(current.extra_dhcp.is_empty());
        assert_eq!(current.dhcp[&subnet].uuid, "a");
    }

    fn localnet_row(network: NetworkId, revision: i64, tag: Option<i64>) -> PortRow {
        let mut external_ids = own(revision);
        external_ids.insert(KEY_NETWORK_ID.into(), network.to_string());
        PortRow {
            name: localnet_name(network),
            kind: LOCALNET.into(),
            addresses: vec!["unknown".into()],
            port_security: Vec::new(),
            enabled: None,
            options: [(OPTION_NETWORK_NAME.to_string(), "physnet1".to_string())].into(),
            parent_name: None,
            tag,
            dhcpv4_options: None,
            dhcpv6_options: None,
            external_ids,
        }
    }

    #[test]
    fn a_new_provider_network_gets_its_localnet_port_in_the_switch_insert() {
        let network = NetworkId::new();
        let desired = Desired {
            switches: [(network, Some(switch_row(network, 1)))].into(),
            localnets: [(network, Some(localnet_row(network, 1, Some(101))))].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &Current::default());
        assert_eq!(
            plan.changes,
            vec![
                Change::CreateSwitch(network),
                Change::CreateLocalnet(network)
            ]
        );
        let inserts = ops_named(&plan, "insert");
        let port = inserts
            .iter()
            .find(|o| o["table"] == PORT_TABLE)
            .expect("port insert");
        assert_eq!(port["row"]["name"], localnet_name(network));
        assert_eq!(port["row"]["type"], LOCALNET);
        assert_eq!(port["row"]["tag"], json!(["set", [101]]));
        assert_eq!(port["row"]["addresses"], json!(["set", ["unknown"]]));
        let switch = inserts
            .iter()
            .find(|o| o["table"] == SWITCH_TABLE)
            .expect("switch insert");
        assert_eq!(
            datum::set_members(&switch["row"]["ports"]),
            vec![datum::named_uuid(port["uuid-name"].as_str().expect("name"))]
        );
    }

    #[test]
    fn a_missing_or_edited_localnet_port_is_repaired() {
        let network = NetworkId::new();
        let wanted = localnet_row(network, 2, Some(101));
        let desired = Desired {
            switches: [(network, Some(switch_row(network, 2)))].into(),
            localnets: [(network, Some(wanted.clone()))].into(),
            ..Default::default()
        };
        let switch = existing_switch(&switch_row(network, 2), "s");
        // Deleted by hand: added back to the existing switch, which is guarded.
        let gone = Current {
            switches: [(network, switch.clone())].into(),
            ..Default::default()
        };
        let plan_gone = plan(&desired, &gone);
        assert_eq!(plan_gone.changes, vec![Change::CreateLocalnet(network)]);
        assert_eq!(
            ops_named(&plan_gone, "mutate")[0]["where"][0][2],
            datum::uuid("s")
        );
        // Retagged by hand: the tag is put back, under a guard on the row.
        let mut edited = wanted.clone();
        edited.tag = Some(7);
        let retagged = Current {
            switches: [(network, switch.clone())].into(),
            localnets: [(network, existing_port(&edited, "l"))].into(),
            ..Default::default()
        };
        let plan_retagged = plan(&desired, &retagged);
        assert_eq!(
            plan_retagged.changes,
            vec![Change::UpdateLocalnet(network, vec!["tag"])]
        );
        assert_eq!(
            ops_named(&plan_retagged, "update")[0]["row"]["tag"],
            json!(["set", [101]])
        );
        assert!(ops_named(&plan_retagged, "wait")
            .iter()
            .any(|w| w["table"] == PORT_TABLE && w["where"][0][2] == datum::uuid("l")));
        // Right: nothing to do.
        let right = Current {
            switches: [(network, switch)].into(),
            localnets: [(network, existing_port(&wanted, "l"))].into(),
            ..Default::default()
        };
        assert!(plan(&desired, &right).is_empty());
    }

    #[test]
    fn a_localnet_port_goes_with_its_network_unless_trunkd_did_not_write_it() {
        let (ours, theirs) = (NetworkId::new(), NetworkId::new());
        let mut foreign = localnet_row(theirs, 1, None);
        foreign.external_ids.clear();
        let current = Current {
            switches: [(ours, existing_switch(&switch_row(ours, 1), "s"))].into(),
            localnets: [
                (ours, existing_port(&localnet_row(ours, 1, Some(5)), "l1")),
                (theirs, existing_port(&foreign, "l2")),
            ]
            .into(),
            ..Default::default()
        };
        // The network is gone from the store.
        let desired = Desired {
            switches: [(ours, None)].into(),
            localnets: [(ours, None)].into(),
            ..Default::default()
        };
        let deleted = plan(&desired, &current);
        assert_eq!(
            deleted.changes,
            vec![Change::DeleteSwitch(ours), Change::DeleteLocalnet(ours)]
        );
        let mutate = ops_named(&deleted, "mutate")[0];
        assert_eq!(
            mutate["where"][0],
            json!(["ports", "includes", ["uuid", "l1"]])
        );
        // A network that stays but is no longer on a physical network loses it too.
        let desired = Desired {
            switches: [(ours, Some(switch_row(ours, 1)))].into(),
            localnets: [(ours, None)].into(),
            ..Default::default()
        };
        assert_eq!(
            plan(&desired, &current).changes,
            vec![Change::DeleteLocalnet(ours)]
        );
    }

    #[test]
    fn port_security_and_requested_chassis_follow_the_port() {
        let (network, port) = (NetworkId::new(), PortId::new());
        let mut held = port_row(port, 1, None);
        held.options = [(
            OPTION_REQUESTED_CHASSIS.to_string(),
            "compute-1".to_string(),
        )]
        .into();
        let mut held_json = held.to_nb(&Others::default());
        held_json["options"] = datum::map_of(
            &[
                (
                    OPTION_REQUESTED_CHASSIS.to_string(),
                    "compute-1".to_string(),
                ),
                ("vif-plug-type".to_string(), "representor".to_string()),
            ]
            .into(),
        );
        let existing = in_database(held_json, "p", PORT_COLUMNS, PortRow::from_nb);
        // Port security disabled and the port unbound, at a later revision.
        let mut wanted = port_row(port, 2, None);
        wanted.port_security.clear();
        let desired = Desired {
            ports: [(port, Some((network, wanted)))].into(),
            ..Default::default()
        };
        let current = Current {
            ports: [(port, existing)].into(),
            ..Default::default()
        };
        let plan = plan(&desired, &current);
        assert_eq!(
            plan.changes,
            vec![Change::UpdatePort(
                port,
                vec!["port_security", "options", "external_ids"]
            )]
        );
        let update = ops_named(&plan, "update")[0];
        assert_eq!(update["row"]["port_security"], json!(["set", []]));
        assert_eq!(
            datum::string_map(update["row"].get("options")),
            [("vif-plug-type".to_string(), "representor".to_string())].into(),
            "an option trunkd does not own survives"
        );
    }
}
