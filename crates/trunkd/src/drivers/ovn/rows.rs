//! The northbound rows trunkd owns, as the store says they should be and as the database holds
//! them. Names follow Neutron's OVN layout so OVN tools and ovn-controller bindings work
//! unchanged: a network is Logical_Switch `neutron-<network id>`, a port is the
//! Logical_Switch_Port named by its port id, a subnet OVN serves DHCP for is a DHCP_Options
//! row that its ports' `dhcpv4_options` (IPv4) or `dhcpv6_options` (IPv6) refer to, and a
//! network on a physical network (`vlan`, `flat`) has a `localnet` port `provnet-<network id>`
//! on its switch (Neutron names it after the segment; trunkd has no segments). trunkd's keys in
//! `external_ids` start with `trunkd:`; keys others put there are kept. Of a port's `options`
//! trunkd owns only [`OWNED_OPTIONS`]; the others are kept too.

use std::collections::BTreeMap;
use std::net::IpAddr;

use serde_json::{json, Map, Value};

use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
use crate::model::{Ipv6Mode, Network, NetworkType, Port, Subnet};
use crate::ovsdb::datum;

/// The `addresses` entry that makes OVN deliver frames for unknown destination MACs to a port.
pub const UNKNOWN_ADDRESS: &str = "unknown";
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
    "type",
    "addresses",
    "port_security",
    "enabled",
    "options",
    "parent_name",
    "tag",
    "dhcpv4_options",
    "dhcpv6_options",
    "external_ids",
];
/// Columns of a Logical_Switch that trunkd writes (and guards).
pub const SWITCH_COLUMNS: &[&str] = &["external_ids"];
/// Columns of a DHCP_Options row that trunkd writes (and guards).
pub const DHCP_COLUMNS: &[&str] = &["cidr", "options", "external_ids"];
/// The keys of a Logical_Switch_Port's `options` that trunkd writes: the chassis a bound port
/// may be claimed by, and the physical network of a localnet port. Other keys are kept.
pub const OWNED_OPTIONS: &[&str] = &[OPTION_REQUESTED_CHASSIS, OPTION_NETWORK_NAME];
pub const OPTION_REQUESTED_CHASSIS: &str = "requested-chassis";
pub const OPTION_NETWORK_NAME: &str = "network_name";
/// The `type` of a localnet port; a VM's port (a VIF) has the empty type.
pub const LOCALNET: &str = "localnet";
/// How long a lease lasts, in seconds: Neutron's default.
pub const LEASE_TIME: &str = "43200";

pub fn switch_name(network: NetworkId) -> String {
    format!("neutron-{network}")
}

/// How a localnet port's name starts; the network id follows.
pub const LOCALNET_PREFIX: &str = "provnet-";

/// The name of a provider network's localnet port.
pub fn localnet_name(network: NetworkId) -> String {
    format!("{LOCALNET_PREFIX}{network}")
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
    /// `type`: empty for a VM's port, [`LOCALNET`] for a provider network's.
    pub kind: String,
    pub addresses: Vec<String>,
    /// `port_security`: the addresses the port may send from, in `addresses`' format.
    pub port_security: Vec<String>,
    pub enabled: Option<bool>,
    /// trunkd's keys of `options` only ([`OWNED_OPTIONS`]).
    pub options: BTreeMap<String, String>,
    pub parent_name: Option<String>,
    pub tag: Option<i64>,
    /// The DHCP_Options row of the port's IPv4 subnet; the planner resolves it.
    pub dhcpv4_options: Option<RowRef>,
    /// The DHCP_Options row of the port's IPv6 subnet; the planner resolves it.
    pub dhcpv6_options: Option<RowRef>,
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

/// The IP version of an address or a subnet: which DHCP (and which port column) serves it.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, Hash)]
pub enum IpVersion {
    V4,
    V6,
}

impl IpVersion {
    pub const ALL: [IpVersion; 2] = [IpVersion::V4, IpVersion::V6];

    /// The subnet's version; `None` for a value that is neither 4 nor 6.
    pub fn of_subnet(subnet: &Subnet) -> Option<Self> {
        match subnet.ip_version {
            4 => Some(IpVersion::V4),
            6 => Some(IpVersion::V6),
            _ => None,
        }
    }

    pub fn of_address(address: &IpAddr) -> Self {
        match address {
            IpAddr::V4(_) => IpVersion::V4,
            IpAddr::V6(_) => IpVersion::V6,
        }
    }
}

/// A DHCP_Options row as trunkd writes it: what OVN's native DHCP answers a subnet's ports
/// with. DHCPv4 answers from the gateway (`server_id`, also the `router`); DHCPv6 from the
/// subnet's server MAC (`server_id`).
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
    /// The row of `subnet` on `network`; `None` when OVN serves it no DHCP: DHCP disabled, an
    /// IPv4 subnet without a gateway (DHCPv4 needs a `server_id`; Neutron falls back to its
    /// metadata port's address, and trunkd has no metadata port), or an IPv6 subnet whose
    /// hosts configure themselves by SLAAC. An IPv6 subnet without an address mode is served
    /// like `dhcpv6-stateful`, as Neutron's OVN driver does.
    pub fn desired(subnet: &Subnet, network: &Network) -> Option<Self> {
        if !subnet.enable_dhcp {
            return None;
        }
        let version = IpVersion::of_subnet(subnet)?;
        let mut options: BTreeMap<String, String> = match version {
            IpVersion::V4 => {
                let gateway = subnet.gateway_ip.as_ref()?;
                [
                    ("server_id", gateway.clone()),
                    ("router", gateway.clone()),
                    ("server_mac", server_mac(subnet.id)),
                    ("lease_time", LEASE_TIME.to_string()),
                    ("mtu", network.mtu.to_string()),
                ]
                .into_iter()
                .map(|(k, v)| (k.to_string(), v))
                .collect()
            }
            IpVersion::V6 => {
                let mut options: BTreeMap<String, String> =
                    [("server_id".to_string(), server_mac(subnet.id))].into();
                match subnet.ipv6_address_mode {
                    Some(Ipv6Mode::Slaac) => return None,
                    Some(Ipv6Mode::Dhcpv6Stateless) => {
                        options.insert("dhcpv6_stateless".into(), "true".into());
                    }
                    Some(Ipv6Mode::Dhcpv6Stateful) | None => {}
                }
                options
            }
        };
        // OVN takes only addresses of the row's version.
        let servers: Vec<&str> = subnet
            .dns_nameservers
            .iter()
            .filter(|server| {
                server
                    .parse::<IpAddr>()
                    .is_ok_and(|address| IpVersion::of_address(&address) == version)
            })
            .map(String::as_str)
            .collect();
        if !servers.is_empty() {
            options.insert("dns_server".into(), format!("{{{}}}", servers.join(", ")));
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

    /// The row to write; of `others`, only the `external_ids` keys are kept (trunkd writes
    /// all of the options).
    pub fn to_nb(&self, others: &Others) -> Value {
        json!({
            "cidr": self.cidr,
            "options": datum::map_of(&self.options),
            "external_ids": datum::map_of(&merged(&others.external_ids, &self.external_ids)),
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

    pub fn to_nb(&self, others: &Others) -> Value {
        json!({
            "name": self.name,
            "external_ids": datum::map_of(&merged(&others.external_ids, &self.external_ids)),
        })
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
        let mut addresses = if port.mac_address.is_empty() {
            Vec::new()
        } else {
            let mut entry = port.mac_address.clone();
            for ip in &port.fixed_ips {
                entry.push(' ');
                entry.push_str(&ip.ip_address);
            }
            vec![entry]
        };
        // What the port may send from: its own MAC and addresses, when it is filtered at all
        // (trunkd has no allowed address pairs to add).
        let port_security = if port.port_security_enabled {
            addresses.clone()
        } else {
            // Unfiltered, the port may also receive frames for MACs that are not its own (a
            // VM that routes or bridges), as with Neutron: OVN delivers frames for unknown
            // destinations to ports listing "unknown".
            addresses.push(UNKNOWN_ADDRESS.to_string());
            Vec::new()
        };
        // Only the chassis of the port's host may claim it, so a live migration's target
        // does not claim it before the port is bound there.
        let options = if port.is_bound() {
            [(OPTION_REQUESTED_CHASSIS.to_string(), port.host_id.clone())].into()
        } else {
            BTreeMap::new()
        };
        Self {
            name: port.id.to_string(),
            kind: String::new(),
            addresses,
            port_security,
            enabled: Some(port.admin_state_up),
            options,
            parent_name: place.map(|p| p.parent.to_string()),
            tag: place.map(|p| p.tag),
            dhcpv4_options: None,
            dhcpv6_options: None,
            external_ids,
        }
    }

    /// The localnet port of a network on a physical network (`vlan` or `flat`), through which
    /// its traffic leaves the chassis on the bridge that chassis maps the physical network to;
    /// `None` for any other network. A vlan network's traffic carries its VLAN ID as `tag`.
    pub fn localnet(network: &Network) -> Option<Self> {
        if !network.network_type.uses_physical_network() {
            return None;
        }
        let physical_network = network.physical_network.as_ref()?;
        let tag = match network.network_type {
            NetworkType::Vlan => Some(network.segmentation_id?),
            _ => None,
        };
        let external_ids = [
            (KEY_NETWORK_ID, network.id.to_string()),
            (KEY_REVISION, network.std.revision_number.to_string()),
        ]
        .into_iter()
        .map(|(k, v)| (k.to_string(), v))
        .collect();
        Some(Self {
            name: localnet_name(network.id),
            kind: LOCALNET.to_string(),
            addresses: vec![UNKNOWN_ADDRESS.to_string()],
            port_security: Vec::new(),
            enabled: None,
            options: [(OPTION_NETWORK_NAME.to_string(), physical_network.clone())].into(),
            parent_name: None,
            tag,
            dhcpv4_options: None,
            dhcpv6_options: None,
            external_ids,
        })
    }

    pub fn from_nb(row: &Value) -> Self {
        Self {
            name: row.get("name").and_then(Value::as_str).unwrap_or("").into(),
            kind: row.get("type").and_then(Value::as_str).unwrap_or("").into(),
            addresses: datum::strings(row.get("addresses")),
            port_security: datum::strings(row.get("port_security")),
            enabled: datum::optional_bool(row.get("enabled")),
            options: datum::string_map(row.get("options"))
                .into_iter()
                .filter(|(k, _)| OWNED_OPTIONS.contains(&k.as_str()))
                .collect(),
            parent_name: datum::optional_string(row.get("parent_name"))
                .filter(|name| !name.is_empty()),
            tag: datum::optional_i64(row.get("tag")),
            dhcpv4_options: RowRef::from_nb(row.get("dhcpv4_options")),
            dhcpv6_options: RowRef::from_nb(row.get("dhcpv6_options")),
            external_ids: own_keys(row),
        }
    }

    /// The row to write; `others` are the keys of `external_ids` and `options` trunkd does
    /// not own, kept as they are.
    pub fn to_nb(&self, others: &Others) -> Value {
        json!({
            "name": self.name,
            "type": self.kind,
            "addresses": datum::set_of(self.addresses.iter().map(|a| json!(a))),
            "port_security": datum::set_of(self.port_security.iter().map(|a| json!(a))),
            "enabled": datum::optional(self.enabled),
            "options": datum::map_of(&merged(&others.options, &self.options)),
            "parent_name": datum::optional(self.parent_name.clone()),
            "tag": datum::optional(self.tag),
            "dhcpv4_options": datum::set_of(self.dhcpv4_options.as_ref().map(RowRef::to_nb)),
            "dhcpv6_options": datum::set_of(self.dhcpv6_options.as_ref().map(RowRef::to_nb)),
            "external_ids": datum::map_of(&merged(&others.external_ids, &self.external_ids)),
        })
    }

    /// Columns that differ from `other`, for logs.
    pub fn differences(&self, other: &PortRow) -> Vec<&'static str> {
        let mut differ = Vec::new();
        if self.kind != other.kind {
            differ.push("type");
        }
        if self.addresses != other.addresses {
            differ.push("addresses");
        }
        if self.port_security != other.port_security {
            differ.push("port_security");
        }
        if self.enabled != other.enabled {
            differ.push("enabled");
        }
        if self.options != other.options {
            differ.push("options");
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
        if self.dhcpv6_options != other.dhcpv6_options {
            differ.push("dhcpv6_options");
        }
        if self.external_ids != other.external_ids {
            differ.push("external_ids");
        }
        differ
    }
}

/// The keys of a row's maps that trunkd does not own, kept on every write.
#[derive(Debug, Clone, Default, PartialEq, Eq)]
pub struct Others {
    /// `external_ids` keys that do not start with [`KEY_PREFIX`].
    pub external_ids: BTreeMap<String, String>,
    /// `options` keys not in [`OWNED_OPTIONS`] (ports only: trunkd writes all of a
    /// DHCP_Options row's options, and no switch options).
    pub options: BTreeMap<String, String>,
}

/// A row as read from the database.
#[derive(Debug, Clone, PartialEq)]
pub struct Existing<R> {
    pub uuid: String,
    pub row: R,
    /// Keys that are not trunkd's, kept on every write.
    pub others: Others,
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
            others: Others {
                external_ids: datum::string_map(row.get("external_ids"))
                    .into_iter()
                    .filter(|(k, _)| !k.starts_with(KEY_PREFIX))
                    .collect(),
                options: datum::string_map(row.get("options"))
                    .into_iter()
                    .filter(|(k, _)| !OWNED_OPTIONS.contains(&k.as_str()))
                    .collect(),
            },
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

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProjectId;
    use crate::model::{FixedIp, NetworkStatus, NetworkType, PortStatus, StandardAttrs};

    fn network() -> Network {
        Network {
            id: NetworkId::new(),
            project_id: ProjectId::new("p"),
            name: "n".into(),
            description: String::new(),
            admin_state_up: true,
            status: NetworkStatus::Active,
            shared: false,
            mtu: 1442,
            network_type: NetworkType::Geneve,
            physical_network: None,
            segmentation_id: None,
            port_security_enabled: true,
            subnets: Vec::new(),
            std: StandardAttrs::fresh(),
        }
    }

    fn subnet(network: &Network, ip_version: i64, cidr: &str) -> Subnet {
        let mut std = StandardAttrs::fresh();
        std.revision_number = 3;
        Subnet {
            id: SubnetId::new(),
            project_id: network.project_id.clone(),
            network_id: network.id,
            name: String::new(),
            description: String::new(),
            ip_version,
            cidr: cidr.into(),
            gateway_ip: None,
            allocation_pools: Vec::new(),
            enable_dhcp: true,
            dns_nameservers: vec!["8.8.8.8".into(), "2001:4860:4860::8888".into()],
            host_routes: Vec::new(),
            ipv6_address_mode: None,
            ipv6_ra_mode: None,
            network_shared: false,
            std,
        }
    }

    fn options(row: &DhcpRow) -> Vec<(&str, &str)> {
        row.options
            .iter()
            .map(|(k, v)| (k.as_str(), v.as_str()))
            .collect()
    }

    #[test]
    fn an_ipv4_subnet_is_served_from_its_gateway() {
        let network = network();
        let mut v4 = subnet(&network, 4, "10.0.0.0/24");
        v4.gateway_ip = Some("10.0.0.1".into());
        let row = DhcpRow::desired(&v4, &network).expect("a row");
        let mac = server_mac(v4.id);
        assert_eq!(row.cidr, "10.0.0.0/24");
        assert_eq!(
            options(&row),
            [
                ("dns_server", "{8.8.8.8}"),
                ("lease_time", LEASE_TIME),
                ("mtu", "1442"),
                ("router", "10.0.0.1"),
                ("server_id", "10.0.0.1"),
                ("server_mac", mac.as_str()),
            ]
        );
        assert_eq!(row.external_ids[KEY_SUBNET_ID], v4.id.to_string());
        assert_eq!(row.external_ids[KEY_NETWORK_ID], network.id.to_string());
        assert_eq!(row.external_ids[KEY_REVISION], "3");
    }

    #[test]
    fn an_ipv4_subnet_without_a_gateway_or_dhcp_has_no_row() {
        let network = network();
        let v4 = subnet(&network, 4, "10.0.0.0/24");
        assert_eq!(DhcpRow::desired(&v4, &network), None, "no server_id");
        let mut off = v4.clone();
        off.gateway_ip = Some("10.0.0.1".into());
        off.enable_dhcp = false;
        assert_eq!(DhcpRow::desired(&off, &network), None);
    }

    #[test]
    fn an_ipv6_subnet_is_served_by_address_mode() {
        let network = network();
        let mut v6 = subnet(&network, 6, "2001:db8::/64");
        v6.gateway_ip = Some("2001:db8::1".into());
        let mac = server_mac(v6.id);
        let stateful = [
            ("dns_server", "{2001:4860:4860::8888}"),
            ("server_id", mac.as_str()),
        ];
        for mode in [None, Some(Ipv6Mode::Dhcpv6Stateful)] {
            v6.ipv6_address_mode = mode;
            let row = DhcpRow::desired(&v6, &network).expect("a row");
            assert_eq!(row.cidr, "2001:db8::/64");
            assert_eq!(options(&row), stateful, "{mode:?}");
            assert_eq!(row.external_ids[KEY_SUBNET_ID], v6.id.to_string());
            assert_eq!(row.external_ids[KEY_NETWORK_ID], network.id.to_string());
            assert_eq!(row.external_ids[KEY_REVISION], "3");
        }

        v6.ipv6_address_mode = Some(Ipv6Mode::Dhcpv6Stateless);
        v6.dns_nameservers.clear();
        let row = DhcpRow::desired(&v6, &network).expect("a row");
        assert_eq!(
            options(&row),
            [("dhcpv6_stateless", "true"), ("server_id", mac.as_str())]
        );

        v6.ipv6_address_mode = Some(Ipv6Mode::Slaac);
        assert_eq!(DhcpRow::desired(&v6, &network), None, "SLAAC");
        v6.ipv6_address_mode = Some(Ipv6Mode::Dhcpv6Stateful);
        v6.enable_dhcp = false;
        assert_eq!(DhcpRow::desired(&v6, &network), None, "DHCP off");
    }

    #[test]
    fn both_dhcp_references_round_trip() {
        let row = PortRow {
            name: "port".into(),
            kind: String::new(),
            addresses: vec!["fa:16:3e:00:00:01 10.0.0.5 2001:db8::5".into()],
            port_security: vec!["fa:16:3e:00:00:01 10.0.0.5 2001:db8::5".into()],
            enabled: Some(true),
            options: [(OPTION_REQUESTED_CHASSIS.to_string(), "host-1".to_string())].into(),
            parent_name: None,
            tag: None,
            dhcpv4_options: Some(RowRef::Uuid("a".into())),
            dhcpv6_options: Some(RowRef::Uuid("b".into())),
            external_ids: [(KEY_REVISION.to_string(), "1".to_string())].into(),
        };
        let mut json = row.to_nb(&Others::default());
        json["_uuid"] = datum::uuid("p");
        assert_eq!(PortRow::from_nb(&json), row);
        let mut other = row.clone();
        other.dhcpv6_options = None;
        assert_eq!(row.differences(&other), ["dhcpv6_options"]);
    }

    fn port(network: &Network) -> Port {
        Port {
            id: PortId::new(),
            project_id: network.project_id.clone(),
            network_id: network.id,
            name: String::new(),
            description: String::new(),
            mac_address: "fa:16:3e:00:00:07".into(),
            admin_state_up: true,
            status: PortStatus::Down,
            device_id: String::new(),
            device_owner: String::new(),
            fixed_ips: vec![
                FixedIp {
                    subnet_id: None,
                    ip_address: "10.0.0.7".into(),
                },
                FixedIp {
                    subnet_id: None,
                    ip_address: "2001:db8::7".into(),
                },
            ],
            host_id: String::new(),
            vif_type: "unbound".into(),
            vnic_type: "normal".into(),
            profile: serde_json::Map::new(),
            port_security_enabled: true,
            std: StandardAttrs::fresh(),
        }
    }

    #[test]
    fn a_vlan_provider_network_has_a_tagged_localnet_port() {
        let mut vlan = network();
        vlan.network_type = NetworkType::Vlan;
        vlan.physical_network = Some("physnet1".into());
        vlan.segmentation_id = Some(101);
        vlan.std.revision_number = 4;
        let row = PortRow::localnet(&vlan).expect("a localnet port");
        assert_eq!(row.name, format!("provnet-{}", vlan.id));
        assert_eq!(row.kind, LOCALNET);
        assert_eq!(row.addresses, ["unknown"]);
        assert!(row.port_security.is_empty());
        assert_eq!(row.tag, Some(101));
        assert_eq!(row.parent_name, None);
        assert_eq!(
            row.options,
            [(OPTION_NETWORK_NAME.to_string(), "physnet1".to_string())].into()
        );
        assert_eq!(row.external_ids[KEY_NETWORK_ID], vlan.id.to_string());
        assert_eq!(row.external_ids[KEY_REVISION], "4");
        assert!(!row.external_ids.contains_key(KEY_PORT_ID));
        let json = row.to_nb(&Others::default());
        assert_eq!(json["type"], LOCALNET);
        assert_eq!(json["tag"], datum::set_of([json!(101)]));
        assert_eq!(json["enabled"], datum::set_of([]));
        assert_eq!(PortRow::from_nb(&json), row, "reads back as written");
    }

    #[test]
    fn a_flat_network_has_an_untagged_localnet_port_and_a_tenant_network_none() {
        let mut flat = network();
        flat.network_type = NetworkType::Flat;
        flat.physical_network = Some("physnet2".into());
        let row = PortRow::localnet(&flat).expect("a localnet port");
        assert_eq!(row.tag, None);
        assert_eq!(row.options[OPTION_NETWORK_NAME], "physnet2");
        for tenant in [NetworkType::Geneve, NetworkType::Vxlan, NetworkType::Local] {
            let mut network = network();
            network.network_type = tenant;
            assert_eq!(PortRow::localnet(&network), None, "{tenant:?}");
        }
    }

    #[test]
    fn port_security_lists_the_mac_and_addresses_only_when_enabled() {
        let network = network();
        let mut secured = port(&network);
        let row = PortRow::desired(&secured, None);
        assert_eq!(row.addresses, ["fa:16:3e:00:00:07 10.0.0.7 2001:db8::7"]);
        assert_eq!(row.port_security, row.addresses);

        secured.fixed_ips.clear();
        assert_eq!(
            PortRow::desired(&secured, None).port_security,
            ["fa:16:3e:00:00:07"],
            "a port without addresses is still held to its MAC"
        );

        let mut open = port(&network);
        open.port_security_enabled = false;
        let row = PortRow::desired(&open, None);
        assert!(row.port_security.is_empty());
        assert_eq!(
            row.addresses,
            ["fa:16:3e:00:00:07 10.0.0.7 2001:db8::7", "unknown"],
            "an unfiltered port also receives frames for other MACs"
        );

        let mut no_mac = port(&network);
        no_mac.mac_address.clear();
        assert!(PortRow::desired(&no_mac, None).port_security.is_empty());
    }

    #[test]
    fn a_bound_port_requests_its_hosts_chassis() {
        let network = network();
        let mut bound = port(&network);
        assert!(
            PortRow::desired(&bound, None).options.is_empty(),
            "unbound: any chassis"
        );
        bound.host_id = "compute-1".into();
        assert_eq!(
            PortRow::desired(&bound, None).options,
            [(
                OPTION_REQUESTED_CHASSIS.to_string(),
                "compute-1".to_string()
            )]
            .into()
        );
    }

    #[test]
    fn options_trunkd_does_not_own_are_kept_apart_and_written_back() {
        let network = network();
        let mut bound = port(&network);
        bound.host_id = "compute-1".into();
        let mut json = PortRow::desired(&bound, None).to_nb(&Others::default());
        json["options"] = datum::map_of(
            &[
                (
                    OPTION_REQUESTED_CHASSIS.to_string(),
                    "compute-2".to_string(),
                ),
                ("mcast_flood".to_string(), "true".to_string()),
            ]
            .into(),
        );
        json["_uuid"] = datum::uuid("p");
        let existing = Existing::read(&json, PORT_COLUMNS, PortRow::from_nb).expect("a row");
        assert_eq!(
            existing.row.options,
            [(
                OPTION_REQUESTED_CHASSIS.to_string(),
                "compute-2".to_string()
            )]
            .into(),
            "only trunkd's keys are compared"
        );
        assert_eq!(
            existing.others.options,
            [("mcast_flood".to_string(), "true".to_string())].into()
        );
        bound.host_id.clear();
        let written = PortRow::desired(&bound, None).to_nb(&existing.others);
        assert_eq!(
            datum::string_map(written.get("options")),
            [("mcast_flood".to_string(), "true".to_string())].into(),
            "unbinding drops requested-chassis and keeps the rest"
        );
    }
}
