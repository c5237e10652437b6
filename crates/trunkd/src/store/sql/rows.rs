//! Column lists and row decoding, shared by the SQL stores: compiled once per backend (each
//! backend module includes this file with `#[path]` and defines `Db`, `DbRow` and `map_err`).

use std::str::FromStr;

use sqlx::Row;

use crate::ids::{NetworkId, PortId, ProjectId, TrunkId};
use crate::model::{
    Network, NetworkType, Port, SegmentationType, StandardAttrs, Subport, Trunk, TrunkStatus,
};
use crate::store::{ParentTrunk, StoreError};

use super::{map_err, Db, DbRow};

// Each resource is read in one row: its tags (and a trunk's subports) come aggregated as JSON
// text in extra columns, so a show is one statement and a list one statement per page, however
// many subports or tags there are (issue 8's profile: per-row round trips to SQLite's worker
// thread dominated a trunk show).

/// The `tags_json` column of a resource of `$kind` aliased `t`.
macro_rules! tags_column {
    ($kind:literal) => {
        concat!(
            "(SELECT ",
            json_array_agg!("g.tag", "g.tag"),
            " FROM tags g WHERE g.resource_type = '",
            $kind,
            "' AND g.resource_id = t.id) AS tags_json"
        )
    };
}

pub(super) const NETWORK_COLUMNS: &str = concat!(
    "t.id, t.project_id, t.name, t.description, t.admin_state_up, t.status, t.shared, t.mtu, \
     t.network_type, t.physical_network, t.segmentation_id, t.port_security_enabled, \
     t.revision_number, t.created_at, t.updated_at, ",
    tags_column!("network")
);

pub(super) const PORT_COLUMNS: &str = concat!(
    "t.id, t.project_id, t.network_id, t.name, t.description, t.mac_address, t.admin_state_up, \
     t.status, t.device_id, t.device_owner, t.fixed_ips, t.host_id, t.vif_type, t.vnic_type, \
     t.profile, t.port_security_enabled, t.revision_number, t.created_at, t.updated_at, ",
    tags_column!("port")
);

pub(super) const TRUNK_COLUMNS: &str = concat!(
    "t.id, t.project_id, t.port_id, t.name, t.description, t.admin_state_up, t.status, \
     t.revision_number, t.created_at, t.updated_at, (SELECT ",
    json_array_agg!(
        "m.position",
        json_tuple!("m.port_id, m.segmentation_type, m.segmentation_id")
    ),
    " FROM trunk_members m WHERE m.trunk_id = t.id AND m.role = 'subport') AS sub_ports_json, ",
    tags_column!("trunk")
);

/// The parent port, trunk and subports (each with its port's MAC address) of trunks, for
/// `trunk_details`; callers add `WHERE t.port_id IN (...)`.
pub(super) const TRUNK_DETAILS_SELECT: &str = concat!(
    "SELECT t.port_id, t.id, (SELECT ",
    json_array_agg!(
        "m.position",
        json_tuple!("m.port_id, m.segmentation_type, m.segmentation_id, p.mac_address")
    ),
    " FROM trunk_members m JOIN ports p ON p.id = m.port_id \
     WHERE m.trunk_id = t.id AND m.role = 'subport') AS sub_ports_json FROM trunks t"
);

fn corrupt(what: &str, value: &str) -> StoreError {
    StoreError::Internal(format!("stored {what} {value:?} is not valid"))
}

pub(super) fn parse_id<T: FromStr>(what: &str, text: &str) -> Result<T, StoreError> {
    text.parse().map_err(|_| corrupt(what, text))
}

fn get<'r, T>(row: &'r DbRow, column: &str) -> Result<T, StoreError>
where
    T: sqlx::Decode<'r, Db> + sqlx::Type<Db>,
{
    row.try_get(column).map_err(map_err)
}

/// Decodes a JSON text column written by `json_array_agg!`, borrowing strings from the row
/// where it can (ids and MAC addresses hold nothing JSON escapes).
fn json_column<'r, T: serde::Deserialize<'r>>(
    row: &'r DbRow,
    column: &str,
) -> Result<T, StoreError> {
    let text: &'r str = get(row, column)?;
    serde_json::from_str(text).map_err(|_| corrupt(column, text))
}

fn std_attrs(row: &DbRow) -> Result<StandardAttrs, StoreError> {
    Ok(StandardAttrs {
        revision_number: get(row, "revision_number")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        tags: json_column(row, "tags_json")?,
    })
}

/// One element of a `sub_ports_json` column: port id, segmentation type and id.
type SubportTuple<'r> = (&'r str, &'r str, i64);

fn subport_of(
    (port_id, segmentation_type, segmentation_id): SubportTuple<'_>,
) -> Result<Subport, StoreError> {
    Ok(Subport {
        port_id: parse_id("port id", port_id)?,
        segmentation_type: SegmentationType::parse(segmentation_type),
        segmentation_id,
    })
}

pub(super) fn network(row: &DbRow) -> Result<Network, StoreError> {
    let id: String = get(row, "id")?;
    let network_type: String = get(row, "network_type")?;
    Ok(Network {
        id: parse_id::<NetworkId>("network id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        name: get(row, "name")?,
        description: get(row, "description")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: get(row, "status")?,
        shared: get(row, "shared")?,
        mtu: get(row, "mtu")?,
        network_type: NetworkType::parse(&network_type)
            .ok_or_else(|| corrupt("network type", &network_type))?,
        physical_network: get(row, "physical_network")?,
        segmentation_id: get(row, "segmentation_id")?,
        port_security_enabled: get(row, "port_security_enabled")?,
        std: std_attrs(row)?,
    })
}

pub(super) fn port(row: &DbRow) -> Result<Port, StoreError> {
    let id: String = get(row, "id")?;
    let network_id: String = get(row, "network_id")?;
    let fixed_ips: String = get(row, "fixed_ips")?;
    let profile: String = get(row, "profile")?;
    Ok(Port {
        id: parse_id::<PortId>("port id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        network_id: parse_id::<NetworkId>("network id", &network_id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        mac_address: get(row, "mac_address")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: get(row, "status")?,
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
pub(super) fn trunk(row: &DbRow) -> Result<Trunk, StoreError> {
    let id: String = get(row, "id")?;
    let port_id: String = get(row, "port_id")?;
    let status: String = get(row, "status")?;
    let sub_ports: Vec<SubportTuple> = json_column(row, "sub_ports_json")?;
    Ok(Trunk {
        id: parse_id::<TrunkId>("trunk id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        port_id: parse_id::<PortId>("port id", &port_id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: TrunkStatus::parse(&status).ok_or_else(|| corrupt("trunk status", &status))?,
        sub_ports: sub_ports
            .into_iter()
            .map(subport_of)
            .collect::<Result<_, _>>()?,
        std: std_attrs(row)?,
    })
}

/// A row of `TRUNK_DETAILS_SELECT`.
pub(super) fn parent_trunk(row: &DbRow) -> Result<ParentTrunk, StoreError> {
    let parent: String = get(row, "port_id")?;
    let trunk_id: String = get(row, "id")?;
    let sub_ports: Vec<(&str, &str, i64, String)> = json_column(row, "sub_ports_json")?;
    Ok(ParentTrunk {
        parent: parse_id("port id", &parent)?,
        trunk_id: parse_id("trunk id", &trunk_id)?,
        sub_ports: sub_ports
            .into_iter()
            .map(|(port, kind, id, mac)| Ok((subport_of((port, kind, id))?, mac)))
            .collect::<Result<_, StoreError>>()?,
    })
}
