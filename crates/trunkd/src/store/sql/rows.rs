//! Column lists and row decoding, shared by the SQL dialects: the column lists are built once
//! per store in its dialect's SQL ([`Columns`]), the decoding is generic over the dialect.

use std::str::FromStr;

use crate::ids::{NetworkId, PortId, ProjectId, SubnetId, TrunkId};
use crate::model::health::ParentState;
use crate::model::{
    Ipv6Mode, Network, NetworkStatus, NetworkType, Port, PortStatus, SegmentationType,
    StandardAttrs, Subnet, Subport, Trunk, TrunkStatus,
};
use crate::store::{ParentTrunk, ResourceKind, StoreError};

use super::exec::{get, SqlRow};
use super::Dialect;

// Each resource is read in one row: its tags (and a trunk's subports) come aggregated as JSON
// text in extra columns, so a show is one statement and a list one statement per page, however
// many subports or tags there are (issue 8's profile: per-row round trips to SQLite's worker
// thread dominated a trunk show).

/// The column lists of the resources (aliased `t`) in one dialect's SQL.
pub(crate) struct Columns {
    network: String,
    subnet: String,
    port: String,
    trunk: String,
    /// The parent port, trunk and subports (each with its port's MAC address) of trunks, for
    /// `trunk_details`; callers add `WHERE t.port_id IN (...)`.
    pub(super) trunk_details_select: String,
}

impl Columns {
    pub(super) fn new<D: Dialect>() -> Self {
        // The `tags_json` column of a resource of `kind`.
        let tags = |kind: &str| {
            format!(
                "(SELECT {} FROM tags g WHERE g.resource_type = '{kind}' \
                 AND g.resource_id = t.id) AS tags_json",
                D::json_array_agg("g.tag", "g.tag")
            )
        };
        let subports = |items: &str| D::json_array_agg(&D::json_tuple(items), "m.position");
        Columns {
            network: format!(
                "t.id, t.project_id, t.name, t.description, t.admin_state_up, t.status, \
                 t.shared, t.mtu, t.network_type, t.physical_network, t.segmentation_id, \
                 t.port_security_enabled, t.revision_number, t.created_at, t.updated_at, \
                 (SELECT {} FROM subnets s WHERE s.network_id = t.id) AS subnets_json, {}",
                D::json_array_agg("s.id", "s.created_at, s.id"),
                tags("network")
            ),
            subnet: format!(
                "t.id, t.project_id, t.network_id, t.name, t.description, t.ip_version, t.cidr, \
                 t.gateway_ip, t.allocation_pools, t.enable_dhcp, t.dns_nameservers, \
                 t.host_routes, t.ipv6_address_mode, t.ipv6_ra_mode, t.revision_number, \
                 t.created_at, t.updated_at, (SELECT n.shared FROM networks n \
                 WHERE n.id = t.network_id) AS network_shared, {}",
                tags("subnet")
            ),
            port: format!(
                "t.id, t.project_id, t.network_id, t.name, t.description, t.mac_address, \
                 t.admin_state_up, t.status, t.device_id, t.device_owner, t.fixed_ips, \
                 t.host_id, t.vif_type, t.vnic_type, t.profile, t.port_security_enabled, \
                 t.revision_number, t.created_at, t.updated_at, {}",
                tags("port")
            ),
            trunk: format!(
                "t.id, t.project_id, t.port_id, t.name, t.description, t.admin_state_up, \
                 t.status, t.refusal, t.revision_number, t.created_at, t.updated_at, \
                 (SELECT p.status FROM ports p WHERE p.id = t.port_id) AS parent_status, \
                 (SELECT p.host_id FROM ports p WHERE p.id = t.port_id) AS parent_host, \
                 (SELECT {} FROM trunk_members m \
                 WHERE m.trunk_id = t.id AND m.role = 'subport') AS sub_ports_json, {}",
                subports("m.port_id, m.segmentation_type, m.segmentation_id, m.port_status"),
                tags("trunk")
            ),
            trunk_details_select: format!(
                "SELECT t.port_id, t.id, (SELECT {} FROM trunk_members m \
                 JOIN ports p ON p.id = m.port_id \
                 WHERE m.trunk_id = t.id AND m.role = 'subport') AS sub_ports_json FROM trunks t",
                subports(
                    "m.port_id, m.segmentation_type, m.segmentation_id, m.port_status, p.mac_address"
                )
            ),
        }
    }

    /// The columns a resource of `kind` is read with.
    pub(super) fn of(&self, kind: ResourceKind) -> &str {
        match kind {
            ResourceKind::Network => &self.network,
            ResourceKind::Subnet => &self.subnet,
            ResourceKind::Port => &self.port,
            ResourceKind::Trunk => &self.trunk,
        }
    }
}

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} {value:?} is not valid"))
}

pub(super) fn parse_id<T: FromStr>(what: &str, text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| corrupt(what, text))
}

/// One element of a `sub_ports_json` column: port id, segmentation type and id, and the
/// port's status.
type SubportTuple<'r> = (&'r str, &'r str, i64, &'r str);

fn subport_of(
    (port_id, segmentation_type, segmentation_id, status): SubportTuple<'_>,
) -> Result<Subport, StoreError> {
    Ok(Subport {
        port_id: parse_id("port id", port_id)?,
        segmentation_type: SegmentationType::parse(segmentation_type),
        segmentation_id,
        port_status: PortStatus::parse(status).ok_or_else(|| corrupt("port status", status))?,
    })
}

// Decoders of rows, one per resource: each reads the columns of its list in `Columns`.

/// Decodes a JSON text column written by [`Dialect::json_array_agg`], borrowing strings
/// from the row where it can (ids and MAC addresses hold nothing JSON escapes).
fn json_column<'r, T: serde::Deserialize<'r>>(
    row: &'r dyn SqlRow,
    column: &str,
) -> Result<T, StoreError> {
    let text: &'r str = get(row, column)?;
    serde_json::from_str(text).map_err(|_| corrupt(column, text))
}

fn std_attrs(row: &dyn SqlRow) -> Result<StandardAttrs, StoreError> {
    Ok(StandardAttrs {
        revision_number: get(row, "revision_number")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        tags: json_column(row, "tags_json")?,
    })
}

pub(super) fn network(row: &dyn SqlRow) -> Result<Network, StoreError> {
    let id: String = get(row, "id")?;
    let network_type: String = get(row, "network_type")?;
    let status: String = get(row, "status")?;
    Ok(Network {
        id: parse_id::<NetworkId>("network id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        name: get(row, "name")?,
        description: get(row, "description")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: NetworkStatus::parse(&status).ok_or_else(|| corrupt("network status", &status))?,
        shared: get(row, "shared")?,
        mtu: get(row, "mtu")?,
        network_type: NetworkType::parse(&network_type)
            .ok_or_else(|| corrupt("network type", &network_type))?,
        physical_network: get(row, "physical_network")?,
        segmentation_id: get(row, "segmentation_id")?,
        port_security_enabled: get(row, "port_security_enabled")?,
        subnets: json_column(row, "subnets_json")?,
        std: std_attrs(row)?,
    })
}

pub(super) fn subnet(row: &dyn SqlRow) -> Result<Subnet, StoreError> {
    let id: String = get(row, "id")?;
    let network_id: String = get(row, "network_id")?;
    let mode = |column: &str| -> Result<Option<Ipv6Mode>, StoreError> {
        let text: Option<String> = get(row, column)?;
        text.map(|text| Ipv6Mode::parse(&text).ok_or_else(|| corrupt(column, &text)))
            .transpose()
    };
    let json = |column: &str| -> Result<String, StoreError> { get(row, column) };
    let pools = json("allocation_pools")?;
    let dns = json("dns_nameservers")?;
    let routes = json("host_routes")?;
    Ok(Subnet {
        id: parse_id::<SubnetId>("subnet id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        network_id: parse_id::<NetworkId>("network id", &network_id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        ip_version: get(row, "ip_version")?,
        cidr: get(row, "cidr")?,
        gateway_ip: get(row, "gateway_ip")?,
        allocation_pools: serde_json::from_str(&pools)
            .map_err(|_| corrupt("allocation_pools", &pools))?,
        enable_dhcp: get(row, "enable_dhcp")?,
        dns_nameservers: serde_json::from_str(&dns)
            .map_err(|_| corrupt("dns_nameservers", &dns))?,
        host_routes: serde_json::from_str(&routes).map_err(|_| corrupt("host_routes", &routes))?,
        ipv6_address_mode: mode("ipv6_address_mode")?,
        ipv6_ra_mode: mode("ipv6_ra_mode")?,
        network_shared: get::<Option<bool>>(row, "network_shared")?.unwrap_or(false),
        std: std_attrs(row)?,
    })
}

pub(super) fn port(row: &dyn SqlRow) -> Result<Port, StoreError> {
    let id: String = get(row, "id")?;
    let network_id: String = get(row, "network_id")?;
    let fixed_ips: String = get(row, "fixed_ips")?;
    let profile: String = get(row, "profile")?;
    let status: String = get(row, "status")?;
    Ok(Port {
        id: parse_id::<PortId>("port id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        network_id: parse_id::<NetworkId>("network id", &network_id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        mac_address: get(row, "mac_address")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: PortStatus::parse(&status).ok_or_else(|| corrupt("port status", &status))?,
        device_id: get(row, "device_id")?,
        device_owner: get(row, "device_owner")?,
        fixed_ips: serde_json::from_str(&fixed_ips)
            .map_err(|_| corrupt("fixed_ips", &fixed_ips))?,
        host_id: get(row, "host_id")?,
        vif_type: get(row, "vif_type")?,
        vnic_type: get(row, "vnic_type")?,
        profile: serde_json::from_str(&profile)
            .map_err(|_| corrupt("binding profile", &profile))?,
        port_security_enabled: get(row, "port_security_enabled")?,
        std: std_attrs(row)?,
    })
}

/// A trunk row with its subports and tags.
pub(super) fn trunk(row: &dyn SqlRow) -> Result<Trunk, StoreError> {
    let id: String = get(row, "id")?;
    let port_id: String = get(row, "port_id")?;
    let status: String = get(row, "status")?;
    let sub_ports: Vec<SubportTuple> = json_column(row, "sub_ports_json")?;
    // A parent cannot be deleted while it is one; were it missing, nothing carries the
    // trunk.
    let parent_status: Option<String> = get(row, "parent_status")?;
    let parent_host: Option<String> = get(row, "parent_host")?;
    let parent_state = ParentState {
        status: match parent_status {
            Some(text) => PortStatus::parse(&text).ok_or_else(|| corrupt("port status", &text))?,
            None => PortStatus::Down,
        },
        bound: parent_host.is_some_and(|h| !h.is_empty()),
    };
    Ok(Trunk {
        id: parse_id::<TrunkId>("trunk id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        port_id: parse_id::<PortId>("port id", &port_id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: TrunkStatus::parse(&status).ok_or_else(|| corrupt("trunk status", &status))?,
        refusal: get(row, "refusal")?,
        parent_state,
        sub_ports: sub_ports
            .into_iter()
            .map(subport_of)
            .collect::<Result<_, _>>()?,
        std: std_attrs(row)?,
    })
}

/// A row of [`Columns::trunk_details_select`].
pub(super) fn parent_trunk(row: &dyn SqlRow) -> Result<ParentTrunk, StoreError> {
    let parent: String = get(row, "port_id")?;
    let trunk_id: String = get(row, "id")?;
    let sub_ports: Vec<(&str, &str, i64, &str, String)> = json_column(row, "sub_ports_json")?;
    Ok(ParentTrunk {
        parent: parse_id("port id", &parent)?,
        trunk_id: parse_id("trunk id", &trunk_id)?,
        sub_ports: sub_ports
            .into_iter()
            .map(|(port, kind, id, status, mac)| Ok((subport_of((port, kind, id, status))?, mac)))
            .collect::<Result<_, StoreError>>()?,
    })
}
