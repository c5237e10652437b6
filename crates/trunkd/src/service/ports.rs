//! Port operations (spec section 2): MAC allocation, bindings, `trunk_details`, and the trunk
//! side effects of binding changes (spec 3.1 rule 12, and spec 3.2: unbinding a parent takes
//! its trunk DOWN in the same transaction).

use std::collections::HashMap;

use rand::Rng;

use crate::ids::{NetworkId, PortId, ProjectId, TrunkId};
use crate::model::port::{SUBPORT_DEVICE_OWNER, VIF_UNBOUND};
use crate::model::{Port, StandardAttrs, Subport};
use crate::policy::{Action, PortBindingAttr, PortWriteAttr, Target};
use crate::store::event::{self, ParentBinding, PortEvent, PortRef, PortUpdated, TrunkChange};
use crate::store::NewEvent;
use crate::store::{
    Constraint, Filter, ListQuery, Membership, ResourceKind, StoreError, StoreTx, SubportBinding,
    Value,
};

use super::addressing::{plan_refusal, require_fixed_ips, NetworkSubnets};
use super::audit::{record_trunk_change, Actor, AuditDetails};
use super::ipam::{self, Allocator, FixedIpRequest};
use super::limits::{invisible_marker, marker_not_found};
use super::networks::visible_network;
use super::port_status::{rederive_all, write_port_statuses};
use super::{
    check_length, check_revision, hidden_fields, list_scope, owned_target, quota, Context,
    ErrorKind, Guard, Service, ServiceError, NAME_MAX,
};

const VNIC_TYPES: &[&str] = &[
    "normal",
    "direct",
    "macvtap",
    "baremetal",
    "direct-physical",
    "virtio-forwarder",
    "smart-nic",
    "vdpa",
    "remote-managed",
];
/// Neutron's base MAC prefix.
const MAC_PREFIX: [u8; 3] = [0xfa, 0x16, 0x3e];
const MAC_ATTEMPTS: usize = 16;
const DEVICE_FIELD_MAX: usize = 255;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortCreate {
    pub project_id: Option<ProjectId>,
    pub network_id: Option<NetworkId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    /// `None`: Neutron's default addresses (see `service::ipam`).
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub host_id: Option<String>,
    pub vnic_type: Option<String>,
    pub profile: Option<serde_json::Map<String, serde_json::Value>>,
    /// `port-security`; the network's value when absent.
    pub port_security_enabled: Option<bool>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct PortUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub mac_address: Option<String>,
    pub device_id: Option<String>,
    pub device_owner: Option<String>,
    pub fixed_ips: Option<Vec<FixedIpRequest>>,
    pub host_id: Option<String>,
    pub vnic_type: Option<String>,
    pub profile: Option<serde_json::Map<String, serde_json::Value>>,
    pub port_security_enabled: Option<bool>,
}

/// A trunk parent's `trunk_details`.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct TrunkDetails {
    pub trunk_id: TrunkId,
    /// Each subport with its port's MAC address.
    pub sub_ports: Vec<(Subport, String)>,
}

/// A port as one caller sees it.
#[derive(Debug, Clone, PartialEq)]
pub struct PortView {
    pub port: Port,
    pub trunk_details: Option<TrunkDetails>,
    pub hidden: Vec<&'static str>,
}

pub(crate) fn port_target(port: &Port) -> Target {
    let mut target = owned_target(&port.project_id);
    target.insert("id".into(), port.id.to_string().into());
    target.insert("network_id".into(), port.network_id.to_string().into());
    target.insert("device_owner".into(), port.device_owner.clone().into());
    target
}

pub(crate) fn port_not_found(id: impl std::fmt::Display) -> ServiceError {
    ServiceError::not_found(
        ErrorKind::PortNotFound,
        format!("Port {id} could not be found."),
    )
}

/// Loads a port the caller may see, else `PortNotFound`.
pub(crate) async fn visible_port(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    id: PortId,
) -> Result<Port, ServiceError> {
    match tx.get_port(id).await? {
        Some(port) if guard.allows(Action::GetPort, &port_target(&port)) => Ok(port),
        _ => Err(port_not_found(id)),
    }
}

/// Lower-cases a MAC address and checks it is a usable unicast address.
fn normalise_mac(mac: &str) -> Result<String, ServiceError> {
    let invalid = || {
        ServiceError::invalid_input("mac_address", format!("'{mac}' is not a valid MAC address"))
    };
    let octets: Vec<&str> = mac.split(':').collect();
    if octets.len() != 6 {
        return Err(invalid());
    }
    let mut bytes = [0u8; 6];
    for (byte, octet) in bytes.iter_mut().zip(&octets) {
        if octet.len() != 2 {
            return Err(invalid());
        }
        *byte = u8::from_str_radix(octet, 16).map_err(|_| invalid())?;
    }
    if bytes == [0; 6] || bytes[0] & 1 == 1 {
        return Err(invalid());
    }
    Ok(mac.to_ascii_lowercase())
}

fn random_mac() -> String {
    let tail: [u8; 3] = rand::thread_rng().gen();
    let [a, b, c] = MAC_PREFIX;
    format!(
        "{a:02x}:{b:02x}:{c:02x}:{:02x}:{:02x}:{:02x}",
        tail[0], tail[1], tail[2]
    )
}

fn mac_in_use(port: &Port) -> ServiceError {
    ServiceError::conflict(
        ErrorKind::MacAddressInUse,
        format!(
            "Unable to complete operation for network {}. The mac address {} is in use.",
            port.network_id, port.mac_address
        ),
    )
}

async fn mac_taken(
    tx: &mut dyn StoreTx,
    network: NetworkId,
    mac: &str,
) -> Result<bool, ServiceError> {
    let query = ListQuery {
        filters: vec![
            Filter {
                attr: "network_id",
                values: vec![Value::Text(network.to_string())],
            },
            Filter {
                attr: "mac_address",
                values: vec![Value::Text(mac.to_string())],
            },
        ],
        limit: Some(1),
        ..ListQuery::everything()
    };
    Ok(!tx.list_ports(&query).await?.is_empty())
}

/// The MAC of a new port: the requested one if no port of the network has it (else 409), or
/// a generated one, drawn again while it collides.
async fn choose_mac(
    tx: &mut dyn StoreTx,
    network: NetworkId,
    requested: Option<String>,
) -> Result<String, ServiceError> {
    if let Some(mac) = requested {
        if mac_taken(tx, network, &mac).await? {
            return Err(ServiceError::conflict(
                ErrorKind::MacAddressInUse,
                format!(
                    "Unable to complete operation for network {network}. The mac address {mac} \
                     is in use."
                ),
            ));
        }
        return Ok(mac);
    }
    for _ in 0..MAC_ATTEMPTS {
        let mac = random_mac();
        if !mac_taken(tx, network, &mac).await? {
            return Ok(mac);
        }
    }
    Err(ServiceError::conflict(
        ErrorKind::MacAddressGenerationFailure,
        format!("Unable to generate unique mac on network {network}."),
    ))
}

fn check_vnic_type(vnic_type: &str) -> Result<(), ServiceError> {
    if VNIC_TYPES.contains(&vnic_type) {
        Ok(())
    } else {
        Err(ServiceError::invalid_input(
            "binding:vnic_type",
            format!("'{vnic_type}' is not in {VNIC_TYPES:?}"),
        ))
    }
}

/// The attributes a port create or update may carry that need checking before any read.
struct PortAttributes<'a> {
    name: Option<&'a String>,
    description: Option<&'a String>,
    device_id: Option<&'a String>,
    device_owner: Option<&'a String>,
    vnic_type: Option<&'a String>,
    mac_address: Option<&'a str>,
}

/// Checks lengths, VNIC type and MAC; returns the MAC normalised, if one was given.
fn check_attributes(given: &PortAttributes<'_>) -> Result<Option<String>, ServiceError> {
    for (field, value, max) in [
        ("name", given.name, NAME_MAX),
        ("description", given.description, NAME_MAX),
        ("device_id", given.device_id, DEVICE_FIELD_MAX),
        ("device_owner", given.device_owner, DEVICE_FIELD_MAX),
    ] {
        if let Some(value) = value {
            check_length(field, value, max)?;
        }
    }
    if let Some(vnic_type) = given.vnic_type {
        check_vnic_type(vnic_type)?;
    }
    given.mac_address.map(normalise_mac).transpose()
}

/// `PortInUseAsTrunkParent` / `PortInUseAsSubPort`: Neutron's refusals of a change to a
/// trunk member, naming its trunk.
fn member_in_use(membership: &Membership) -> ServiceError {
    let (port, trunk) = (membership.port_id, membership.trunk_id);
    if membership.is_parent {
        ServiceError::conflict(
            ErrorKind::PortInUseAsTrunkParent,
            format!("Port {port} is currently a parent port for trunk {trunk}."),
        )
    } else {
        ServiceError::conflict(
            ErrorKind::PortInUseAsSubPort,
            format!("Port {port} is currently a subport for trunk {trunk}."),
        )
    }
}

/// A trunk member's `device_id`/`device_owner` belong to the trunk while it is one: a
/// subport's say `trunk:subport` and its trunk (the drivers, the agents and the store
/// invariants rely on it), and may not change at all; a parent's name the one device (VM)
/// plugged into the trunk, and may only be set while it has none, or cleared together — a
/// compute service plugging or unplugging an instance — never edited in place. Setting a
/// field to the value it has is no change (idempotent clients do that). Runs in the
/// update's transaction, so a concurrent add_subports cannot slip in between.
async fn check_member_device(
    tx: &mut dyn StoreTx,
    port: &Port,
    update: &PortUpdate,
) -> Result<(), ServiceError> {
    let device_id = update.device_id.as_deref().unwrap_or(&port.device_id);
    let device_owner = update.device_owner.as_deref().unwrap_or(&port.device_owner);
    if device_id == port.device_id && device_owner == port.device_owner {
        return Ok(());
    }
    let Some(membership) = tx.memberships(&[port.id]).await?.into_iter().next() else {
        return Ok(());
    };
    if membership.is_parent {
        let plugging = port.device_id.is_empty() && port.device_owner.is_empty();
        let unplugging = device_id.is_empty() && device_owner.is_empty();
        if plugging || unplugging {
            return Ok(());
        }
    }
    Err(member_in_use(&membership))
}

impl Service {
    fn vif_type_for(&self, host_id: &str) -> String {
        if host_id.is_empty() {
            VIF_UNBOUND.to_string()
        } else {
            self.drivers().vif_type().to_string()
        }
    }

    pub async fn create_ports(
        &self,
        ctx: &Context,
        mut requests: Vec<PortCreate>,
    ) -> Result<Vec<PortView>, ServiceError> {
        let guard = self.guard(ctx);
        self.check_bulk("ports", requests.len())?;
        self.check_create_tags(requests.iter_mut().map(|r| &mut r.tags))?;
        let mut prepared = Vec::with_capacity(requests.len());
        for request in &requests {
            let network_id = request.network_id.ok_or_else(|| {
                ServiceError::invalid_input("network_id", "this attribute is required")
            })?;
            let project = ctx.owning_project(request.project_id.clone())?;
            let target = owned_target(&project);
            guard.require(Action::CreatePort, &target)?;
            guard.require_fields(
                &[
                    (
                        Action::CreatePortAttr(PortWriteAttr::MacAddress),
                        request.mac_address.is_some(),
                    ),
                    (
                        Action::CreatePortAttr(PortWriteAttr::BindingHostId),
                        request.host_id.is_some(),
                    ),
                    (
                        Action::CreatePortAttr(PortWriteAttr::BindingProfile),
                        request.profile.is_some(),
                    ),
                ],
                &target,
            )?;
            let mac = check_attributes(&PortAttributes {
                name: request.name.as_ref(),
                description: request.description.as_ref(),
                device_id: request.device_id.as_ref(),
                device_owner: request.device_owner.as_ref(),
                vnic_type: request.vnic_type.as_ref(),
                mac_address: request.mac_address.as_deref(),
            })?;
            prepared.push((network_id, project, mac));
        }
        let ports = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    quota::check(
                        tx.as_mut(),
                        ResourceKind::Port,
                        self.settings().port_quota,
                        prepared.iter().map(|(_, project, _)| project),
                    )
                    .await?;
                    let mut created = Vec::with_capacity(requests.len());
                    let mut subnets = NetworkSubnets::default();
                    for (request, (network_id, project, mac)) in requests.iter().zip(&prepared) {
                        // Read in this transaction, so the value inherited is the network's as of
                        // the port's creation, whatever a concurrent network update does.
                        let network = visible_network(tx.as_mut(), &guard, *network_id).await?;
                        require_fixed_ips(
                            &guard,
                            Action::CreatePortAttr,
                            request.fixed_ips.as_deref(),
                            &network,
                            project,
                        )?;
                        let mac = choose_mac(tx.as_mut(), *network_id, mac.clone()).await?;
                        let ranges = subnets.of(tx.as_mut(), *network_id).await?;
                        let wants = ipam::plan_create(ranges, request.fixed_ips.as_deref(), &mac);
                        let wants = match wants {
                            Ok(wants) => wants,
                            Err(error) => {
                                return Err(
                                    plan_refusal(tx.as_mut(), &guard, *network_id, error).await
                                )
                            }
                        };
                        let port_id = PortId::new();
                        let fixed_ips = Allocator {
                            subnets: ranges,
                            network: *network_id,
                        }
                        .take(tx.as_mut(), port_id, &wants)
                        .await?;
                        let host_id = request.host_id.clone().unwrap_or_default();
                        let mut std = StandardAttrs::fresh();
                        std.tags = request.tags.clone();
                        let port = Port {
                            id: port_id,
                            project_id: project.clone(),
                            network_id: *network_id,
                            name: request.name.clone().unwrap_or_default(),
                            description: request.description.clone().unwrap_or_default(),
                            mac_address: mac,
                            admin_state_up: request.admin_state_up.unwrap_or(true),
                            status: self.initial_port_status(),
                            device_id: request.device_id.clone().unwrap_or_default(),
                            device_owner: request.device_owner.clone().unwrap_or_default(),
                            fixed_ips,
                            vif_type: self.vif_type_for(&host_id),
                            host_id,
                            vnic_type: request.vnic_type.clone().unwrap_or_else(|| "normal".into()),
                            profile: request.profile.clone().unwrap_or_default(),
                            port_security_enabled: request
                                .port_security_enabled
                                .unwrap_or(network.port_security_enabled),
                            std,
                        };
                        tx.insert_port(&port).await.map_err(|e| match e {
                            StoreError::Unique(Constraint::PortMac) => mac_in_use(&port),
                            other => other.into(),
                        })?;
                        super::outbox::record(
                            tx.as_mut(),
                            NewEvent::new(0, PortEvent::Created(PortRef::new(port.id))),
                        )
                        .await?;
                        created.push(port);
                    }
                    Ok::<_, ServiceError>(created)
                })
            })
            .await?;
        Ok(ports
            .into_iter()
            .map(|port| self.view_port(&guard, port, None))
            .collect())
    }

    fn view_port(
        &self,
        guard: &Guard<'_>,
        port: Port,
        trunk_details: Option<TrunkDetails>,
    ) -> PortView {
        let hidden = hidden_fields::<PortBindingAttr>(guard, &port_target(&port));
        PortView {
            port,
            trunk_details,
            hidden,
        }
    }

    /// `trunk_details` for every port of `ports` that is a trunk parent, in a fixed number of
    /// queries whatever the number of ports or subports.
    async fn trunk_details_of(
        &self,
        tx: &mut dyn StoreTx,
        ports: &[PortId],
    ) -> Result<HashMap<PortId, TrunkDetails>, ServiceError> {
        Ok(tx
            .trunks_of_parents(ports)
            .await?
            .into_iter()
            .map(|found| {
                (
                    found.parent,
                    TrunkDetails {
                        trunk_id: found.trunk_id,
                        sub_ports: found.sub_ports,
                    },
                )
            })
            .collect())
    }

    pub async fn get_port(&self, ctx: &Context, id: PortId) -> Result<PortView, ServiceError> {
        let guard = self.guard(ctx);
        let mut tx = self.read().await?;
        let port = visible_port(tx.as_mut(), &guard, id).await?;
        let mut details = self.trunk_details_of(tx.as_mut(), &[id]).await?;
        Ok(self.view_port(&guard, port, details.remove(&id)))
    }

    pub async fn list_ports(
        &self,
        ctx: &Context,
        mut query: ListQuery,
    ) -> Result<Vec<PortView>, ServiceError> {
        let guard = self.guard(ctx);
        let Some(scope) = list_scope(&guard, Action::GetPort, false) else {
            return Ok(Vec::new());
        };
        query.scope = scope;
        let mut tx = self.read().await?;
        if let Some(marker) = &query.marker {
            let id = marker.parse().map_err(|_| marker_not_found(marker))?;
            visible_port(tx.as_mut(), &guard, id)
                .await
                .map_err(|e| invisible_marker(marker, e))?;
        }
        let ports: Vec<Port> = tx
            .list_ports(&query)
            .await?
            .into_iter()
            .filter(|p| guard.allows(Action::GetPort, &port_target(p)))
            .collect();
        let ids: Vec<PortId> = ports.iter().map(|p| p.id).collect();
        let mut details = self.trunk_details_of(tx.as_mut(), &ids).await?;
        Ok(ports
            .into_iter()
            .map(|port| {
                let trunk_details = details.remove(&port.id);
                self.view_port(&guard, port, trunk_details)
            })
            .collect())
    }

    pub async fn update_port(
        &self,
        ctx: &Context,
        id: PortId,
        update: PortUpdate,
        if_match: Option<i64>,
    ) -> Result<PortView, ServiceError> {
        let guard = self.guard(ctx);
        let mac = check_attributes(&PortAttributes {
            name: update.name.as_ref(),
            description: update.description.as_ref(),
            device_id: update.device_id.as_ref(),
            device_owner: update.device_owner.as_ref(),
            vnic_type: update.vnic_type.as_ref(),
            mac_address: update.mac_address.as_deref(),
        })?;
        let (port, trunk_details) = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let mut port = visible_port(tx.as_mut(), &guard, id).await?;
                    let target = port_target(&port);
                    guard.require(Action::UpdatePort, &target)?;
                    guard.require_fields(
                        &[
                            (
                                Action::UpdatePortAttr(PortWriteAttr::MacAddress),
                                update.mac_address.is_some(),
                            ),
                            (
                                Action::UpdatePortAttr(PortWriteAttr::BindingHostId),
                                update.host_id.is_some(),
                            ),
                            (
                                Action::UpdatePortAttr(PortWriteAttr::BindingProfile),
                                update.profile.is_some(),
                            ),
                        ],
                        &target,
                    )?;
                    check_revision(if_match, port.std.revision_number)?;
                    if update.fixed_ips.is_some() {
                        let network = tx.get_network(port.network_id).await?.ok_or_else(|| {
                            ServiceError::Internal {
                                message: format!("port {id} is on a network that is gone"),
                            }
                        })?;
                        require_fixed_ips(
                            &guard,
                            Action::UpdatePortAttr,
                            update.fixed_ips.as_deref(),
                            &network,
                            &port.project_id,
                        )?;
                    }
                    check_member_device(tx.as_mut(), &port, &update).await?;
                    let old_host = port.host_id.clone();
                    let old_status = port.status;
                    let old_mac = port.mac_address.clone();
                    if let Some(mac) = &mac {
                        if *mac != port.mac_address {
                            if port.is_bound() {
                                return Err(ServiceError::conflict(
                                    ErrorKind::PortBound,
                                    format!("Unable to change the MAC address of bound port {id}."),
                                ));
                            }
                            port.mac_address = mac.clone();
                        }
                    }
                    if let Some(name) = &update.name {
                        port.name = name.clone();
                    }
                    if let Some(description) = &update.description {
                        port.description = description.clone();
                    }
                    if let Some(admin_state_up) = update.admin_state_up {
                        port.admin_state_up = admin_state_up;
                    }
                    if let Some(device_id) = &update.device_id {
                        port.device_id = device_id.clone();
                    }
                    if let Some(device_owner) = &update.device_owner {
                        port.device_owner = device_owner.clone();
                    }
                    if update.fixed_ips.is_some() || mac.as_ref().is_some_and(|m| *m != old_mac) {
                        self.readdress(tx.as_mut(), &guard, &mut port, update.fixed_ips.as_deref())
                            .await?;
                    }
                    if let Some(host_id) = &update.host_id {
                        port.status = self.status_on_binding(port.status, &old_host, host_id);
                        port.host_id = host_id.clone();
                        port.vif_type = self.vif_type_for(host_id);
                    }
                    if let Some(vnic_type) = &update.vnic_type {
                        port.vnic_type = vnic_type.clone();
                    }
                    if let Some(profile) = &update.profile {
                        port.profile = profile.clone();
                    }
                    if let Some(port_security_enabled) = update.port_security_enabled {
                        port.port_security_enabled = port_security_enabled;
                    }
                    port.std.revision_number += 1;
                    port.std.updated_at = crate::model::now_timestamp();
                    tx.update_port(&port).await.map_err(|e| match e {
                        StoreError::Unique(Constraint::PortMac) => mac_in_use(&port),
                        other => other.into(),
                    })?;
                    super::outbox::record(
                        tx.as_mut(),
                        NewEvent::new(
                            port.std.revision_number,
                            PortEvent::Updated(event::PortUpdate::Attributes(PortUpdated::new(
                                port.id,
                                port.host_id.clone(),
                            ))),
                        ),
                    )
                    .await?;
                    if old_host != port.host_id {
                        self.follow_parent_binding(tx.as_mut(), &Actor::of(ctx), &port, &old_host)
                            .await?;
                    }
                    if old_status != port.status {
                        // A subport's trunk (a parent's is re-derived with its binding above).
                        let trunks: Vec<TrunkId> = tx
                            .memberships(&[port.id])
                            .await?
                            .into_iter()
                            .filter(|m| !m.is_parent)
                            .map(|m| m.trunk_id)
                            .collect();
                        rederive_all(tx.as_mut(), &Actor::of(ctx), trunks).await?;
                    }
                    let mut details = self.trunk_details_of(tx.as_mut(), &[id]).await?;
                    Ok::<_, ServiceError>((port, details.remove(&id)))
                })
            })
            .await?;
        Ok(self.view_port(&guard, port, trunk_details))
    }

    /// Applies a `fixed_ips` update (or a MAC change, which moves automatic addresses) to
    /// `port`: gives back what the new list drops, then takes what it adds, in the update's
    /// transaction.
    async fn readdress(
        &self,
        tx: &mut dyn StoreTx,
        guard: &Guard<'_>,
        port: &mut Port,
        requested: Option<&[FixedIpRequest]>,
    ) -> Result<(), ServiceError> {
        let mut subnets = NetworkSubnets::default();
        let ranges = subnets.of(tx, port.network_id).await?;
        let plan = match ipam::plan_update(ranges, &port.fixed_ips, requested, &port.mac_address) {
            Ok(plan) => plan,
            Err(error) => return Err(plan_refusal(tx, guard, port.network_id, error).await),
        };
        let allocator = Allocator {
            subnets: ranges,
            network: port.network_id,
        };
        allocator.release(tx, &plan.release).await?;
        let taken = allocator.take(tx, port.id, &plan.take).await?;
        port.fixed_ips = plan.keep;
        port.fixed_ips.extend(taken);
        Ok(())
    }

    /// When a trunk parent's host changes, its subports' bindings follow (spec 3.1 rule 12),
    /// their statuses with them (`service::port_status`), and the trunk's status is derived
    /// again: unbound, the parent is DOWN and so is the trunk (spec 3.2). Same transaction as
    /// the port change.
    async fn follow_parent_binding(
        &self,
        tx: &mut dyn StoreTx,
        actor: &Actor,
        parent: &Port,
        previous_host: &str,
    ) -> Result<(), ServiceError> {
        let Some(membership) = tx
            .memberships(&[parent.id])
            .await?
            .into_iter()
            .find(|m| m.is_parent)
        else {
            return Ok(());
        };
        let Some(mut trunk) = tx.get_trunk(membership.trunk_id).await? else {
            return Ok(());
        };
        let subports: Vec<PortId> = trunk.sub_ports.iter().map(|s| s.port_id).collect();
        let now = crate::model::now_timestamp();
        tx.set_subport_bindings(
            &subports,
            &SubportBinding {
                device_id: trunk.id.to_string(),
                device_owner: SUBPORT_DEVICE_OWNER.into(),
                host_id: parent.host_id.clone(),
                vif_type: self.vif_type_for(&parent.host_id),
                updated_at: now.clone(),
            },
        )
        .await?;
        let mut restatus = Vec::new();
        for subport in &mut trunk.sub_ports {
            let status =
                self.status_on_binding(subport.port_status, previous_host, &parent.host_id);
            if status != subport.port_status {
                subport.port_status = status;
                restatus.push((subport.port_id, status));
            }
        }
        write_port_statuses(tx, &restatus).await?;
        let unbound = !parent.is_bound();
        trunk.parent_state = parent.parent_state();
        // A refusal was a host's (or a driver's for the old binding): the new one is judged
        // afresh.
        trunk.refusal = None;
        let before = (trunk.std.revision_number, trunk.status);
        trunk.rederive_status();
        trunk.std.revision_number += 1;
        trunk.std.updated_at = now;
        tx.update_trunk(&trunk).await?;
        record_trunk_change(
            &mut *tx,
            actor,
            &trunk.project_id,
            before.0,
            NewEvent::new(trunk.std.revision_number, {
                let binding = ParentBinding::new(
                    trunk.id,
                    parent.id,
                    parent.host_id.clone(),
                    previous_host.to_string(),
                );
                if unbound {
                    TrunkChange::ParentUnbound(binding)
                } else {
                    TrunkChange::ParentBound(binding)
                }
            }),
            AuditDetails::default().with_status(before.1, trunk.status),
        )
        .await?;
        Ok(())
    }

    pub async fn delete_port(
        &self,
        ctx: &Context,
        id: PortId,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let guard = self.guard(ctx);
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let port = visible_port(tx.as_mut(), &guard, id).await?;
                guard.require(Action::DeletePort, &port_target(&port))?;
                check_revision(if_match, port.std.revision_number)?;
                self.delete_port_in(tx.as_mut(), &port).await
            })
        })
        .await
    }

    /// The writes of a port's deletion once the caller may delete it, in the caller's
    /// transaction: refused while it is a trunk member, else its addresses go back to IPAM
    /// and the `deleted` event is recorded. Shared by `delete_port` and the teardown
    /// (`service::teardown`).
    pub(super) async fn delete_port_in(
        &self,
        tx: &mut dyn StoreTx,
        port: &Port,
    ) -> Result<(), ServiceError> {
        let id = port.id;
        if let Some(membership) = tx.memberships(&[id]).await?.into_iter().next() {
            return Err(member_in_use(&membership));
        }
        let mut subnets = NetworkSubnets::default();
        let ranges = subnets.of(tx, port.network_id).await?;
        Allocator {
            subnets: ranges,
            network: port.network_id,
        }
        .release(tx, &port.fixed_ips)
        .await?;
        tx.delete_port(id).await?;
        super::outbox::record(
            tx,
            NewEvent::new(
                port.std.revision_number + 1,
                PortEvent::Deleted(PortRef::new(id)),
            ),
        )
        .await?;
        Ok(())
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn macs_are_checked_and_lower_cased() {
        assert_eq!(
            normalise_mac("FA:16:3E:00:00:01").ok().as_deref(),
            Some("fa:16:3e:00:00:01")
        );
        for bad in [
            "",
            "fa:16:3e:00:00",
            "zz:16:3e:00:00:01",
            "01:00:5e:00:00:01",
            "00:00:00:00:00:00",
            "fa-16-3e-00-00-01",
        ] {
            assert!(normalise_mac(bad).is_err(), "{bad} accepted");
        }
    }

    #[test]
    fn generated_macs_use_the_base_prefix() {
        let mac = random_mac();
        assert!(mac.starts_with("fa:16:3e:"), "{mac}");
        assert!(normalise_mac(&mac).is_ok());
    }
}
