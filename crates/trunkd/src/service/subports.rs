//! Validation of subports to add (spec 3.1, rules 1-7). Checks that need no database run first
//! over the whole request, so a bad entry anywhere fails before anything is read; the rest run
//! inside the operation's transaction with a fixed number of queries however many subports.

use std::collections::{HashMap, HashSet};

use crate::ids::{NetworkId, PortId, TrunkId};
use crate::model::{Port, SegmentationType, Subport};
use crate::policy::Action;
use crate::store::{Membership, StoreTx};

use super::memberships::KnownMemberships;
use super::ports::{port_not_found, port_target};
use super::vlan_pool::VlanPool;
use super::{ErrorKind, Guard, Service, ServiceError};

/// Lowest and highest VLAN id a subport may use.
pub const VLAN_MIN: i64 = 1;
pub const VLAN_MAX: i64 = 4094;

/// A subport as the client asked for it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubportRequest {
    pub port_id: PortId,
    pub segmentation_type: Option<String>,
    pub segmentation_id: Option<SegmentationIdRequest>,
}

/// The `segmentation_id` a client gave for a subport.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SegmentationIdRequest {
    Id(i64),
    /// `"auto"`: the lowest VLAN ID free on the trunk (extension `trunk-vlan-allocation`).
    Auto,
}

/// A request entry that passed the shape checks.
#[derive(Debug, Clone, PartialEq, Eq)]
pub(crate) enum Segmentation {
    Vlan(i64),
    /// A VLAN ID the server picks in the write transaction (`vlan_pool`).
    AutoVlan,
    Inherit,
}

fn field(index: usize, name: &str) -> String {
    format!("sub_ports[{index}].{name}")
}

fn duplicate(trunk: Option<TrunkId>, segmentation_type: &str, id: i64) -> ServiceError {
    let on = trunk.map(|t| format!(" on trunk {t}")).unwrap_or_default();
    ServiceError::conflict(
        ErrorKind::DuplicateSubPort,
        format!(
            "segmentation_type {segmentation_type} and segmentation_id {id} already in use{on}."
        ),
    )
}

impl Service {
    /// Rules that need no database: limits, segmentation types and ranges, duplicates inside
    /// the request (a 400, as Neutron's body validation gives).
    pub(crate) fn check_subport_shapes(
        &self,
        requests: &[SubportRequest],
    ) -> Result<Vec<Segmentation>, ServiceError> {
        let max = self.settings().max_subports_per_request;
        if requests.len() > max {
            return Err(ServiceError::invalid_input(
                "sub_ports",
                format!(
                    "{} subports exceed the limit of {max} per request",
                    requests.len()
                ),
            ));
        }
        let mut ports = HashSet::with_capacity(requests.len());
        let mut vlans = HashSet::with_capacity(requests.len());
        let mut shapes = Vec::with_capacity(requests.len());
        for (index, request) in requests.iter().enumerate() {
            if !ports.insert(request.port_id) {
                return Err(ServiceError::invalid_input(
                    &field(index, "port_id"),
                    format!("port {} is listed more than once", request.port_id),
                ));
            }
            let type_field = field(index, "segmentation_type");
            let Some(given_type) = request.segmentation_type.as_deref() else {
                return Err(ServiceError::invalid_input(
                    &type_field,
                    "this attribute is required",
                ));
            };
            let segmentation_type = SegmentationType::parse(given_type);
            if !matches!(
                segmentation_type,
                SegmentationType::Vlan | SegmentationType::Inherit
            ) || !self.drivers().supports_segmentation(&segmentation_type)
            {
                let supported = self.drivers().segmentation_types();
                let names: Vec<&str> = supported.iter().map(SegmentationType::as_str).collect();
                return Err(ServiceError::invalid_input(
                    &type_field,
                    format!(
                        "'{given_type}' is not one of the supported segmentation types {names:?}"
                    ),
                ));
            }
            let id_field = field(index, "segmentation_id");
            let allocate_missing = self.settings().vlans.allocate_missing;
            let shape =
                match (segmentation_type, request.segmentation_id) {
                    (SegmentationType::Vlan, None) if !allocate_missing => {
                        return Err(ServiceError::invalid_input(
                            &id_field,
                            "this attribute is required (or \"auto\" for the lowest free VLAN ID)",
                        ))
                    }
                    (SegmentationType::Vlan, None | Some(SegmentationIdRequest::Auto)) => {
                        Segmentation::AutoVlan
                    }
                    (SegmentationType::Vlan, Some(SegmentationIdRequest::Id(id)))
                        if !(VLAN_MIN..=VLAN_MAX).contains(&id) =>
                    {
                        return Err(ServiceError::invalid_input(
                            &id_field,
                            format!("{id} is not in range {VLAN_MIN} through {VLAN_MAX}"),
                        ))
                    }
                    (SegmentationType::Vlan, Some(SegmentationIdRequest::Id(id))) => {
                        if !vlans.insert(id) {
                            // Bad input, as Neutron's body validation finds it: no lookup has
                            // run yet. A clash with the trunk's own subports is a 409 later.
                            return Err(ServiceError::invalid_input(
                                "sub_ports",
                                format!(
                                    "Segmentation ID '{id}' for '{}' is not unique",
                                    request.port_id
                                ),
                            ));
                        }
                        Segmentation::Vlan(id)
                    }
                    (_, Some(_)) => return Err(ServiceError::invalid_input(
                        &id_field,
                        "segmentation_type inherit takes its id from the network; do not give one",
                    )),
                    (_, None) => Segmentation::Inherit,
                };
            shapes.push(shape);
        }
        Ok(shapes)
    }

    /// Rules that read the store: ports visible, not the parent, not in another trunk (as
    /// `known` has it, read before the transaction), not attached to a device, MTU within the
    /// parent's, segmentation unique in the trunk. `trunk` is the trunk they join, none for one
    /// being created. Returns the subports to store, in request order, with `inherit` resolved
    /// and each with the status its port takes when it joins the parent's binding.
    #[allow(clippy::too_many_arguments)]
    pub(crate) async fn check_subports_in_store(
        &self,
        tx: &mut dyn StoreTx,
        guard: &Guard<'_>,
        trunk: Option<TrunkId>,
        known: &KnownMemberships,
        parent: &Port,
        existing: &[Subport],
        requests: &[SubportRequest],
        shapes: &[Segmentation],
    ) -> Result<Joining, ServiceError> {
        if requests.is_empty() {
            // Nothing joins, so no network's MTU to compare: a bare trunk's create reads none
            // (on PostgreSQL a round trip fewer inside its write slot).
            return Ok(Joining {
                subports: Vec::new(),
                restatus: Vec::new(),
            });
        }
        let ids: Vec<PortId> = requests.iter().map(|r| r.port_id).collect();
        let ports: HashMap<PortId, Port> = tx
            .get_ports(&ids)
            .await?
            .into_iter()
            .filter(|p| guard.allows(Action::GetPort, &port_target(p)))
            .map(|p| (p.id, p))
            .collect();
        if let Some(missing) = ids.iter().find(|id| !ports.contains_key(id)) {
            return Err(port_not_found(missing));
        }
        if ids.contains(&parent.id) {
            return Err(parent_in_use(parent.id));
        }
        if let Some(taken) = known.first_of(&ids) {
            return Err(already_in_a_trunk(taken));
        }
        for id in &ids {
            let port = &ports[id];
            if !port.device_id.is_empty() {
                return Err(ServiceError::conflict(
                    ErrorKind::PortInUse,
                    format!(
                        "Unable to complete operation on port {id} for network {}. Port already has an attached device {}.",
                        port.network_id, port.device_id
                    ),
                ));
            }
        }
        let mut network_ids: Vec<NetworkId> = ports.values().map(|p| p.network_id).collect();
        network_ids.push(parent.network_id);
        network_ids.sort();
        network_ids.dedup();
        let networks: HashMap<NetworkId, crate::model::Network> = tx
            .get_networks(&network_ids)
            .await?
            .into_iter()
            .map(|n| (n.id, n))
            .collect();
        let parent_mtu = networks
            .get(&parent.network_id)
            .map(|n| n.mtu)
            .ok_or_else(|| ServiceError::Internal {
                message: format!("network of parent port {} is missing", parent.id),
            })?;
        let mut used: HashSet<(String, i64)> = existing
            .iter()
            .map(|s| (s.segmentation_type.as_str().to_string(), s.segmentation_id))
            .collect();
        let mut subports = Vec::with_capacity(requests.len());
        let mut restatus = Vec::new();
        let mut allocating = Vec::new();
        for (index, (request, shape)) in requests.iter().zip(shapes).enumerate() {
            let port = &ports[&request.port_id];
            let network = networks
                .get(&port.network_id)
                .ok_or_else(|| ServiceError::Internal {
                    message: format!("network of port {} is missing", port.id),
                })?;
            if network.mtu > parent_mtu {
                return Err(ServiceError::conflict(
                    ErrorKind::SubPortMtuGreaterThanTrunkPortMtu,
                    format!(
                        "MTU {} of subport {} is greater than MTU {parent_mtu} of the trunk's parent port {}.",
                        network.mtu, port.id, parent.id
                    ),
                ));
            }
            let (segmentation_type, segmentation_id) = match shape {
                Segmentation::Vlan(id) => (SegmentationType::Vlan, *id),
                Segmentation::AutoVlan => {
                    // Given its ID below, once every explicit ID of the request is known.
                    allocating.push(index);
                    (SegmentationType::Vlan, 0)
                }
                Segmentation::Inherit => match network.segmentation_id {
                    Some(id) if network.network_type.is_segmented() => {
                        (SegmentationType::parse(network.network_type.as_str()), id)
                    }
                    _ => {
                        return Err(ServiceError::invalid_input(
                            &field(index, "segmentation_type"),
                            format!(
                                "network {} of port {} has no segmentation to inherit",
                                network.id, port.id
                            ),
                        ))
                    }
                },
            };
            if !matches!(shape, Segmentation::AutoVlan)
                && !used.insert((segmentation_type.as_str().to_string(), segmentation_id))
            {
                return Err(duplicate(
                    trunk,
                    segmentation_type.as_str(),
                    segmentation_id,
                ));
            }
            let port_status = self.status_on_binding(port.status, &port.host_id, &parent.host_id);
            if port_status != port.status {
                restatus.push((port.id, port_status));
            }
            subports.push(Subport {
                port_id: request.port_id,
                segmentation_type,
                segmentation_id,
                port_status,
            });
        }
        if !allocating.is_empty() {
            self.allocate_vlans(tx, trunk, &used, &allocating, &mut subports)
                .await?;
        }
        Ok(Joining { subports, restatus })
    }

    /// Gives the subports at `indexes` the lowest VLAN IDs of `trunk` that are neither in
    /// `used` nor resting after a removal (`vlan_reuse_cooldown`), in request order.
    async fn allocate_vlans(
        &self,
        tx: &mut dyn StoreTx,
        trunk: Option<TrunkId>,
        used: &HashSet<(String, i64)>,
        indexes: &[usize],
        subports: &mut [Subport],
    ) -> Result<(), ServiceError> {
        let cooldown = self.settings().vlans.reuse_cooldown;
        let resting = match trunk {
            Some(trunk) if !cooldown.is_zero() => {
                tx.cooling_vlans(trunk, super::millis_before_now(cooldown))
                    .await?
            }
            _ => Vec::new(),
        };
        let vlan = SegmentationType::Vlan.as_str();
        let in_use = used
            .iter()
            .filter(|(kind, _)| kind == vlan)
            .map(|(_, id)| *id);
        let mut pool = VlanPool::new(in_use, resting);
        let ids = pool.allocate(indexes.len()).map_err(|exhausted| {
            let on = trunk
                .map(|t| format!("Trunk {t}"))
                .unwrap_or("The trunk".into());
            ServiceError::conflict(
                ErrorKind::NoVlanIdAvailable,
                format!(
                    "{on} has no free VLAN ID for {}: {} in use and {} freed less than {} s ago \
                     (vlan_reuse_cooldown). Remove subports, or give a segmentation_id that is \
                     free.",
                    field(indexes[exhausted.wanted_index], "segmentation_id"),
                    exhausted.in_use,
                    exhausted.resting,
                    cooldown.as_secs(),
                ),
            )
        })?;
        for (index, id) in indexes.iter().zip(ids) {
            subports[*index].segmentation_id = id;
        }
        Ok(())
    }
}

/// Subports that passed the rules, and the ports whose status changes as they join.
pub(crate) struct Joining {
    pub subports: Vec<Subport>,
    /// Written with the subports' bindings (`service::port_status`).
    pub restatus: Vec<(PortId, crate::model::PortStatus)>,
}

pub(crate) fn parent_in_use(port: PortId) -> ServiceError {
    ServiceError::conflict(
        ErrorKind::ParentPortInUse,
        format!("Port {port} is currently in use and is not eligible for use as a parent port."),
    )
}

/// Spec 3.1 rule 2: the error for a port that already serves a trunk, by the role it serves in.
pub(crate) fn already_in_a_trunk(membership: &Membership) -> ServiceError {
    if membership.is_parent {
        parent_in_use(membership.port_id)
    } else {
        ServiceError::conflict(
            ErrorKind::TrunkPortInUse,
            format!(
                "Port {} is already a subport of trunk {}.",
                membership.port_id, membership.trunk_id
            ),
        )
    }
}
