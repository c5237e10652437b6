//! The northbound rows trunkd owns, as the store says they should be and as the database holds
//! them. Names follow Neutron's OVN layout so OVN tools and ovn-controller bindings work
//! unchanged: a network is Logical_Switch `neutron-<network id>`, a port is the
//! Logical_Switch_Port named by its port id, an IPv4 subnet with DHCP enabled is a
//! DHCP_Options row that its ports' `dhcpv4_options` refer to. trunkd's keys in `external_ids`
//! start with `trunkd:`; keys others put there are kept.

use std::collections::BTreeMap;

use serde_json::{json, Map, Value};

use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
use crate::model::{Network, Port, Subnet};
use crate::ovsdb::datum;

pub const SWITCH_TABLE: &str = "Logical_Switch";
pub const PORT_TABLE: &str = "Logical_Switch_Port";
pub const DHCP_TABLE: &str = "DHCP_Options";

/// Prefix of every key trunkd writes in `external_ids`.
pub const KEY_PREFIX: &str = "trunkd:";
pub const KEY_REVISION: &str = "trunkd:revision_number";
pub const KEY_NETWORK_ID: &str = "trunkd:network_id";
pub const KEY_PORT_ID: &str = "trunkd:port_id";
pub const KEY_TRUNK_ID: &str = "trunkd:trunk_id";
pub const KEY_SUBNET_ID: &str = "trunkd:subnet_id";

/// Columns of a Logical_Switch_Port that trunkd writes (and guards).
pub const PORT_COLUMNS: &[&str] = &[
    "addresses",
    "enabled",
    "parent_name",
    "tag",
    "dhcpv4_options",
    "external_ids",
];
/// Columns of a Logical_Switch that trunkd writes (and guards).
pub const SWITCH_COLUMNS: &[&str] = &["external_ids"];
/// Columns of a DHCP_Options row that trunkd writes (and guards).
pub const DHCP_COLUMNS: &[&str] = &["cidr", "options", "external_ids"];
/// How long a lease lasts, in seconds: Neutron's default.
pub const LEASE_TIME: &str = "43200";

pub fn switch_name(network: NetworkId) -> String {
    format!("neutron-{network}")
}

/// A Logical_Switch as trunkd writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SwitchRow {
    pub name: String,
    /// trunkd's keys only.
    pub external_ids: BTreeMap<String, String>,
}

/// Where a subport sits in its trunk.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SubportPlace {
    pub trunk: TrunkId,
    pub parent: PortId,
    /// The VLAN ID the parent's traffic carries this subport on.
    pub tag: i64,
}

/// A Logical_Switch_Port as trunkd writes it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct PortRow {
    pub name: String,
    pub addresses: Vec<String>,
    pub enabled: Option<bool>,
    pub parent_name: Option<String>,
    pub tag: Option<i64>,
    /// The DHCP_Options row of the port's IPv4 subnet; the planner resolves it.
    pub dhcpv4_options: Option<RowRef>,
    /// trunkd's keys only.
    pub external_ids: BTreeMap<String, String>,
}

/// A reference to a row: one in the database, or one the same transaction inserts.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum RowRef {
    Uuid(String),
    /// The `uuid-name` of an insert in the same transaction.
    Named(String),
}

impl RowRef {
    fn to_nb(&self) -> Value {
        match self {
            RowRef::Uuid(uuid) => datum::uuid(uuid),
            RowRef::Named(name) => datum::named_uuid(name),
        }
    }

    /// The reference held in an optional uuid column.
    fn from_nb(value: Option<&Value>) -> Option<Self> {
        let members = datum::set_members(value?);
        match members.first()?.as_array().map(Vec::as_slice) {
            Some([tag, Value::String(uuid)]) if tag == "uuid" => Some(RowRef::Uuid(uuid.clone())),
            _ => None,
        }
    }
}

/// A DHCP_Options row as trunkd writes it: what OVN's native DHCP answers a subnet's ports
/// with. Without a gateway there is no `server_id` nor `router`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct DhcpRow {
    pub cidr: String,
    pub options: BTreeMap<String, String>,
    /// trunkd's keys only.
    pub external_ids: BTreeMap<String, String>,
}

/// The MAC address OVN answers DHCP from for a subnet: fa:16:3e (Neutron's prefix, locally
/// administered) and three bytes of an FNV-1a hash of the subnet id, so it never changes.
pub fn server_mac(subnet: SubnetId) -> String {
    let mut hash: u32 = 0x811c_9dc5;
    for byte in subnet.to_string().bytes() {
        hash ^= u32::from(byte);
        hash = hash.wrapping_mul(0x0100_0193);
    }
    let [_, a, b, c] = hash.to_be_bytes();
    format!("fa:16:3e:{a:02x}:{b:02x}:{c:02x}")
}

impl DhcpRow {
    /// The row of `subnet` on `network`; `None` when OVN serves it no DHCPv4 (an IPv6 subnet, or
    /// DHCP disabled).
    pub fn desired(subnet: &Subnet, network: &Network) -> Option<Self> {
        if subnet.ip_version != 4 || !subnet.enable_dhcp {
            return None;
        }
        let mut options: BTreeMap<String, String> = [
            ("server_mac", server_mac(subnet.id)),
            ("lease_time", LEASE_TIME.to_string()),
            ("mtu", network.mtu.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(gateway) = &subnet.gateway_ip {
            options.insert("server_id".into(), gateway.clone());
            options.insert("router".into(), gateway.clone());
        }
        if !subnet.dns_nameservers.is_empty() {
            options.insert(
                "dns_server".into(),
                format!("{{{}}}", subnet.dns_nameservers.join(", ")),
            );
        }
        let external_ids = [
            (KEY_SUBNET_ID, subnet.id.to_string()),
            (KEY_NETWORK_ID, subnet.network_id.to_string()),
            (KEY_REVISION, subnet.std.revision_number.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Some(Self {
            cidr: subnet.cidr.clone(),
            options,
            external_ids,
        })
    }

    pub fn from_nb(row: &Value) -> Self {
        Self {
            cidr: row.get("cidr").and_then(Value::as_str).unwrap_or("").into(),
            options: datum::string_map(row.get("options")),
            external_ids: own_keys(row),
        }
    }

    pub fn to_nb(&self, others: &BTreeMap<String, String>) -> Value {
        json!({
            "cidr": self.cidr,
            "options": datum::map_of(&self.options),
            "external_ids": datum::map_of(&merged(others, &self.external_ids)),
        })
    }
}

impl SwitchRow {
    pub fn desired(network: &Network) -> Self {
        let external_ids = [
            (KEY_NETWORK_ID, network.id.to_string()),
            ("trunkd:network_name", network.name.clone()),
            ("trunkd:project_id", network.project_id.to_string()),
            (KEY_REVISION, network.std.revision_number.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Self {
            name: switch_name(network.id),
            external_ids,
        }
    }

    pub fn from_nb(row: &Value) -> Self {
        Self {
            name: row.get("name").and_then(Value::as_str).unwrap_or("").into(),
            external_ids: own_keys(row),
        }
    }

    pub fn to_nb(&self, others: &BTreeMap<String, String>) -> Value {
        json!({ "name": self.name, "external_ids": datum::map_of(&merged(others, &self.external_ids)) })
    }
}

impl PortRow {
    /// The port's row; `place` when it is a subport.
    pub fn desired(port: &Port, place: Option<SubportPlace>) -> Self {
        let mut external_ids: BTreeMap<String, String> = [
            (KEY_PORT_ID, port.id.to_string()),
            (KEY_NETWORK_ID, port.network_id.to_string()),
            ("trunkd:project_id", port.project_id.to_string()),
            ("trunkd:device_owner", port.device_owner.clone()),
            ("trunkd:device_id", port.device_id.clone()),
            (KEY_REVISION, port.std.revision_number.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        if let Some(place) = place {
            external_ids.insert(KEY_TRUNK_ID.to_string(), place.trunk.to_string());
        }
        // "MAC IP..." as OVN's addresses column takes it.
        let addresses = if port.mac_address.is_empty() {
            Vec::new()
        } else {
            let mut entry = port.mac_address.clone();
            for ip in &port.fixed_ips {
                entry.push(' ');
                entry.push_str(&ip.ip_address);
            }
            vec![entry]
        };
        Self {
            name: port.id.to_string(),
            addresses,
            enabled: Some(port.admin_state_up),
            parent_name: place.map(|p| p.parent.to_string()),
            tag: place.map(|p| p.tag),
            dhcpv4_options: None,
            external_ids,
        }
    }

    pub fn from_nb(row: &Value) -> Self {
        Self {
            name: row.get("name").and_then(Value::as_str).unwrap_or("").into(),
            addresses: datum::strings(row.get("addresses")),
            enabled: datum::optional_bool(row.get("enabled")),
            parent_name: datum::optional_string(row.get("parent_name"))
                .filter(|name| !name.is_empty()),
            tag: datum::optional_i64(row.get("tag")),
            dhcpv4_options: RowRef::from_nb(row.get("dhcpv4_options")),
            external_ids: own_keys(row),
        }
    }

    pub fn to_nb(&self, others: &BTreeMap<String, String>) -> Value {
        json!({
            "name": self.name,
            "addresses": datum::set_of(self.addresses.iter().map(|a| json!(a))),
            "enabled": datum::optional(self.enabled),
            "parent_name": datum::optional(self.parent_name.clone()),
            "tag": datum::optional(self.tag),
            "dhcpv4_options": datum::set_of(self.dhcpv4_options.as_ref().map(RowRef::to_nb)),
            "external_ids": datum::map_of(&merged(others, &self.external_ids)),
        })
    }

    /// Columns that differ from `other`, for logs.
    pub fn differences(&self, other: &PortRow) -> Vec<&'static str> {
        let mut differ = Vec::new();
        if self.addresses != other.addresses {
            differ.push("addresses");
        }
        if self.enabled != other.enabled {
            differ.push("enabled");
        }
        if self.parent_name != other.parent_name {
            differ.push("parent_name");
        }
        if self.tag != other.tag {
            differ.push("tag");
        }
        if self.dhcpv4_options != other.dhcpv4_options {
            differ.push("dhcpv4_options");
        }
        if self.external_ids != other.external_ids {
            differ.push("external_ids");
        }
        differ
    }
}

/// A row as read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing<R> {
    pub uuid: String,
    pub row: R,
    /// `external_ids` keys that are not trunkd's, kept on every write.
    pub others: BTreeMap<String, String>,
    /// The guarded columns exactly as read, for the `wait` that makes a write conditional.
    pub guarded: Value,
}

impl<R> Existing<R> {
    /// Reads a selected row; `columns` are the ones to guard.
    pub fn read(row: &Value, columns: &[&str], parse: impl Fn(&Value) -> R) -> Option<Self> {
        let guarded: Map<String, Value> = columns
            .iter()
            .filter_map(|c| row.get(*c).map(|v| (c.to_string(), v.clone())))
            .collect();
        Some(Self {
            uuid: datum::row_uuid(row)?,
            row: parse(row),
            others: datum::string_map(row.get("external_ids"))
                .into_iter()
                .filter(|(k, _)| !k.starts_with(KEY_PREFIX))
                .collect(),
            guarded: Value::Object(guarded),
        })
    }
}

/// trunkd's keys of a row's `external_ids`.
fn own_keys(row: &Value) -> BTreeMap<String, String> {
    datum::string_map(row.get("external_ids"))
        .into_iter()
        .filter(|(k, _)| k.starts_with(KEY_PREFIX))
        .collect()
}

fn merged(
    others: &BTreeMap<String, String>,
    own: &BTreeMap<String, String>,
) -> BTreeMap<String, String> {
    others
        .iter()
        .chain(own.iter())
        .map(|(k, v)| (k.clone(), v.clone()))
        .collect()
}

/// The revision trunkd recorded in a row's own keys.
pub fn recorded_revision(own: &BTreeMap<String, String>) -> Option<i64> {
    own.get(KEY_REVISION).and_then(|r| r.parse().ok())
}
