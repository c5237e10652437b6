//! Column lists and row decoding, shared by the SQL stores: compiled once per backend (each
//! backend module includes this file with `#[path]` and defines `Db`, `DbRow` and `map_err`).

use std::str::FromStr;

use sqlx::Row;

use crate::ids::{NetworkId, PortId, ProjectId, TrunkId};
use crate::model::{
    Network, NetworkType, Port, SegmentationType, StandardAttrs, Subport, Trunk, TrunkStatus,
};
use crate::store::StoreError;

use super::{map_err, Db, DbRow};

pub(super) const NETWORK_COLUMNS: &str = "t.id, t.project_id, t.name, t.description, \
    t.admin_state_up, t.status, t.shared, t.mtu, t.network_type, t.physical_network, \
    t.segmentation_id, t.revision_number, t.created_at, t.updated_at";

pub(super) const PORT_COLUMNS: &str = "t.id, t.project_id, t.network_id, t.name, t.description, \
    t.mac_address, t.admin_state_up, t.status, t.device_id, t.device_owner, t.fixed_ips, \
    t.host_id, t.vif_type, t.vnic_type, t.profile, t.revision_number, t.created_at, t.updated_at";

pub(super) const TRUNK_COLUMNS: &str = "t.id, t.project_id, t.port_id, t.name, t.description, \
    t.admin_state_up, t.status, t.revision_number, t.created_at, t.updated_at";

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

fn std_attrs(row: &DbRow) -> Result<StandardAttrs, StoreError> {
    Ok(StandardAttrs {
        revision_number: get(row, "revision_number")?,
        created_at: get(row, "created_at")?,
        updated_at: get(row, "updated_at")?,
        tags: Vec::new(),
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
        std: std_attrs(row)?,
    })
}

/// A trunk row; subports and tags are filled in by the caller.
pub(super) fn trunk(row: &DbRow) -> Result<Trunk, StoreError> {
    let id: String = get(row, "id")?;
    let port_id: String = get(row, "port_id")?;
    let status: String = get(row, "status")?;
    Ok(Trunk {
        id: parse_id::<TrunkId>("trunk id", &id)?,
        project_id: ProjectId::new(get::<String>(row, "project_id")?),
        port_id: parse_id::<PortId>("port id", &port_id)?,
        name: get(row, "name")?,
        description: get(row, "description")?,
        admin_state_up: get(row, "admin_state_up")?,
        status: TrunkStatus::parse(&status).ok_or_else(|| corrupt("trunk status", &status))?,
        sub_ports: Vec::new(),
        std: std_attrs(row)?,
    })
}

/// A subport row with the trunk it belongs to.
pub(super) fn subport(row: &DbRow) -> Result<(TrunkId, Subport), StoreError> {
    let trunk_id: String = get(row, "trunk_id")?;
    let port_id: String = get(row, "port_id")?;
    let segmentation_type: String = get(row, "segmentation_type")?;
    Ok((
        parse_id("trunk id", &trunk_id)?,
        Subport {
            port_id: parse_id("port id", &port_id)?,
            segmentation_type: SegmentationType::parse(&segmentation_type),
            segmentation_id: get(row, "segmentation_id")?,
        },
    ))
}
