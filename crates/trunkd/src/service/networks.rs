//! Network operations (spec section 2): provider attributes, segment allocation, MTU defaults.

use std::collections::HashMap;

use crate::ids::{NetworkId, ProjectId};
use crate::model::{Network, NetworkStatus, NetworkType, StandardAttrs};
use crate::policy::{Action, ProviderAttr, Target};
use crate::store::event::{self, NetworkEvent, NetworkRef};
use crate::store::NewEvent;
use crate::store::{ListQuery, ResourceKind, StoreTx};

use super::limits::{invisible_marker, marker_not_found};
use super::{
    check_length, check_revision, hidden_fields, list_scope, owned_target, quota, Context,
    ErrorKind, Guard, SegmentRange, Service, ServiceError, Shown, NAME_MAX,
};

/// Per allocation range (network type, physical network, first, last) of one transaction:
/// the lowest id that may still be free (see `take_segment`).
type SegmentCursors = HashMap<(NetworkType, Option<String>, i64, i64), i64>;

const MTU_MIN: i64 = 68;
const MTU_MAX: i64 = 9216;

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkCreate {
    pub project_id: Option<ProjectId>,
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub mtu: Option<i64>,
    pub network_type: Option<NetworkType>,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    /// `port-security`; true when absent.
    pub port_security_enabled: Option<bool>,
    pub tags: Vec<String>,
}

#[derive(Debug, Clone, Default, PartialEq)]
pub struct NetworkUpdate {
    pub name: Option<String>,
    pub description: Option<String>,
    pub admin_state_up: Option<bool>,
    pub shared: Option<bool>,
    pub mtu: Option<i64>,
    /// `port-security`: changes what ports created afterwards inherit, not existing ports.
    pub port_security_enabled: Option<bool>,
}

pub(crate) fn network_target(network: &Network) -> Target {
    let mut target = owned_target(&network.project_id);
    target.insert("id".into(), network.id.to_string().into());
    target.insert("shared".into(), network.shared.into());
    target
}

fn not_found(id: impl std::fmt::Display) -> ServiceError {
    ServiceError::not_found(
        ErrorKind::NetworkNotFound,
        format!("Network {id} could not be found."),
    )
}

fn check_mtu(mtu: i64) -> Result<(), ServiceError> {
    if (MTU_MIN..=MTU_MAX).contains(&mtu) {
        Ok(())
    } else {
        Err(ServiceError::invalid_input(
            "mtu",
            format!("{mtu} is not in range {MTU_MIN} through {MTU_MAX}"),
        ))
    }
}

/// Loads a network the caller may see, else `NetworkNotFound`.
pub(crate) async fn visible_network(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    id: NetworkId,
) -> Result<Network, ServiceError> {
    match tx.get_network(id).await? {
        Some(network) if guard.allows(Action::GetNetwork, &network_target(&network)) => Ok(network),
        _ => Err(not_found(id)),
    }
}

/// The provider segment of a new network after defaults: (type, physical network, id or None
/// when one must be allocated).
fn resolve_segment(
    service: &Service,
    request: &NetworkCreate,
) -> Result<(NetworkType, Option<String>, Option<i64>), ServiceError> {
    let settings = &service.settings().networks;
    let network_type = request.network_type.unwrap_or(settings.tenant_network_type);
    let mut physical_network = request.physical_network.clone();
    if network_type.uses_physical_network() {
        if physical_network.is_none() && network_type == NetworkType::Vlan {
            physical_network = settings
                .vlan_ranges
                .first()
                .and_then(|r| r.physical_network.clone());
        }
        if physical_network.as_deref().unwrap_or("").is_empty() {
            return Err(ServiceError::invalid_input(
                "provider:physical_network",
                format!(
                    "a {} network needs a physical network",
                    network_type.as_str()
                ),
            ));
        }
    } else if physical_network.is_some() {
        return Err(ServiceError::invalid_input(
            "provider:physical_network",
            format!(
                "a {} network has no physical network",
                network_type.as_str()
            ),
        ));
    }
    if let Some(id) = request.segmentation_id {
        if !network_type.is_segmented() {
            return Err(ServiceError::invalid_input(
                "provider:segmentation_id",
                format!("a {} network has no segmentation id", network_type.as_str()),
            ));
        }
        let max = network_type.max_segmentation_id();
        if !(1..=max).contains(&id) {
            return Err(ServiceError::invalid_input(
                "provider:segmentation_id",
                format!("{id} is not in range 1 through {max}"),
            ));
        }
    }
    Ok((network_type, physical_network, request.segmentation_id))
}

impl Service {
    fn allocation_ranges(
        &self,
        network_type: NetworkType,
        physical_network: Option<&str>,
    ) -> Vec<SegmentRange> {
        let settings = &self.settings().networks;
        match network_type {
            NetworkType::Vlan => settings
                .vlan_ranges
                .iter()
                .filter(|r| r.physical_network.as_deref() == physical_network)
                .cloned()
                .collect(),
            NetworkType::Vxlan => vec![settings.vxlan_range.clone()],
            NetworkType::Geneve => vec![settings.geneve_range.clone()],
            NetworkType::Flat | NetworkType::Local => Vec::new(),
        }
    }

    /// The lowest free segmentation id of the configured ranges, or an explicit id if free.
    /// A fixed number of statements each (one per configured range at most), none of which
    /// reads the ids in use. `cursors` carries, across the networks of one bulk create, where
    /// each range's search may start: every id of a range below its cursor was taken when the
    /// bulk last allocated from it, and a create frees none, so N networks walk the taken ids
    /// once, not N times.
    async fn take_segment(
        &self,
        tx: &mut dyn StoreTx,
        cursors: &mut SegmentCursors,
        network_type: NetworkType,
        physical_network: Option<&str>,
        requested: Option<i64>,
    ) -> Result<Option<i64>, ServiceError> {
        if !network_type.is_segmented() {
            return Ok(None);
        }
        if let Some(id) = requested {
            if tx
                .segment_in_use(network_type, physical_network, id)
                .await?
            {
                return Err(match network_type {
                    NetworkType::Vlan => ServiceError::conflict(
                        ErrorKind::VlanIdInUse,
                        format!(
                            "Unable to create the network. The VLAN {id} on physical network {} is in use.",
                            physical_network.unwrap_or("")
                        ),
                    ),
                    _ => ServiceError::conflict(
                        ErrorKind::TunnelIdInUse,
                        format!("Unable to create the network. The tunnel ID {id} is in use."),
                    ),
                });
            }
            return Ok(Some(id));
        }
        for range in self.allocation_ranges(network_type, physical_network) {
            let key = (
                network_type,
                physical_network.map(str::to_string),
                range.first,
                range.last,
            );
            let from = cursors.get(&key).copied().unwrap_or(range.first);
            let free = tx
                .lowest_free_segment(network_type, physical_network, from, range.last)
                .await?;
            match free {
                Some(id) => {
                    cursors.insert(key, id.saturating_add(1));
                    return Ok(Some(id));
                }
                None => {
                    cursors.insert(key, range.last.saturating_add(1));
                }
            }
        }
        Err(ServiceError::conflict(
            ErrorKind::NoNetworkAvailable,
            "Unable to create the network. No tenant network is available for allocation.",
        ))
    }

    fn check_create_network(
        &self,
        guard: &Guard<'_>,
        ctx: &Context,
        request: &NetworkCreate,
    ) -> Result<(ProjectId, Target), ServiceError> {
        let project = ctx.owning_project(request.project_id.clone())?;
        let mut target = owned_target(&project);
        target.insert("shared".into(), request.shared.unwrap_or(false).into());
        guard.require(Action::CreateNetwork, &target)?;
        guard.require_fields(
            &[
                (Action::CreateNetworkShared, request.shared.is_some()),
                (
                    Action::CreateNetworkProvider(ProviderAttr::NetworkType),
                    request.network_type.is_some(),
                ),
                (
                    Action::CreateNetworkProvider(ProviderAttr::PhysicalNetwork),
                    request.physical_network.is_some(),
                ),
                (
                    Action::CreateNetworkProvider(ProviderAttr::SegmentationId),
                    request.segmentation_id.is_some(),
                ),
            ],
            &target,
        )?;
        if let Some(name) = &request.name {
            check_length("name", name, NAME_MAX)?;
        }
        if let Some(description) = &request.description {
            check_length("description", description, NAME_MAX)?;
        }
        if let Some(mtu) = request.mtu {
            check_mtu(mtu)?;
        }
        Ok((project, target))
    }

    /// Creates one or more networks in one transaction (bulk create is all or nothing).
    pub async fn create_networks(
        &self,
        ctx: &Context,
        mut requests: Vec<NetworkCreate>,
    ) -> Result<Vec<Shown<Network>>, ServiceError> {
        let guard = self.guard(ctx);
        self.check_bulk("networks", requests.len())?;
        self.check_create_tags(requests.iter_mut().map(|r| &mut r.tags))?;
        let mut prepared = Vec::with_capacity(requests.len());
        for request in &requests {
            let (project, _) = self.check_create_network(&guard, ctx, request)?;
            let segment = resolve_segment(self, request)?;
            prepared.push((project, segment));
        }
        let created = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    quota::check(
                        tx.as_mut(),
                        ResourceKind::Network,
                        self.settings().network_quota,
                        prepared.iter().map(|(project, _)| project),
                    )
                    .await?;
                    let mut created = Vec::with_capacity(requests.len());
                    let mut cursors = SegmentCursors::new();
                    for (request, (project, (network_type, physical_network, requested_id))) in
                        requests.iter().zip(&prepared)
                    {
                        let segmentation_id = self
                            .take_segment(
                                tx.as_mut(),
                                &mut cursors,
                                *network_type,
                                physical_network.as_deref(),
                                *requested_id,
                            )
                            .await?;
                        let mut std = StandardAttrs::fresh();
                        std.tags = request.tags.clone();
                        let network = Network {
                            id: NetworkId::new(),
                            project_id: project.clone(),
                            name: request.name.clone().unwrap_or_default(),
                            description: request.description.clone().unwrap_or_default(),
                            admin_state_up: request.admin_state_up.unwrap_or(true),
                            status: NetworkStatus::Active,
                            shared: request.shared.unwrap_or(false),
                            mtu: request.mtu.unwrap_or(
                                self.settings().networks.physical_mtu - network_type.mtu_overhead(),
                            ),
                            network_type: *network_type,
                            physical_network: physical_network.clone(),
                            segmentation_id,
                            port_security_enabled: request.port_security_enabled.unwrap_or(true),
                            subnets: Vec::new(),
                            std,
                        };
                        tx.insert_network(&network).await?;
                        super::outbox::record(
                            tx.as_mut(),
                            NewEvent::new(0, NetworkEvent::Created(NetworkRef { id: network.id })),
                        )
                        .await?;
                        created.push(network);
                    }
                    Ok::<_, ServiceError>(created)
                })
            })
            .await?;
        Ok(created
            .into_iter()
            .map(|n| self.show_network(&guard, n))
            .collect())
    }

    pub async fn get_network(
        &self,
        ctx: &Context,
        id: NetworkId,
    ) -> Result<Shown<Network>, ServiceError> {
        let guard = self.guard(ctx);
        let mut tx = self.read().await?;
        let network = visible_network(tx.as_mut(), &guard, id).await?;
        Ok(self.show_network(&guard, network))
    }

    fn show_network(&self, guard: &Guard<'_>, network: Network) -> Shown<Network> {
        let target = network_target(&network);
        Shown {
            hidden: hidden_fields::<ProviderAttr>(guard, &target),
            item: network,
        }
    }

    pub async fn list_networks(
        &self,
        ctx: &Context,
        mut query: ListQuery,
    ) -> Result<Vec<Shown<Network>>, ServiceError> {
        let guard = self.guard(ctx);
        let Some(scope) = list_scope(&guard, Action::GetNetwork, true) else {
            return Ok(Vec::new());
        };
        query.scope = scope;
        let mut tx = self.read().await?;
        if let Some(marker) = &query.marker {
            let id = marker.parse().map_err(|_| marker_not_found(marker))?;
            visible_network(tx.as_mut(), &guard, id)
                .await
                .map_err(|e| invisible_marker(marker, e))?;
        }
        let networks = tx.list_networks(&query).await?;
        Ok(networks
            .into_iter()
            .filter(|n| guard.allows(Action::GetNetwork, &network_target(n)))
            .map(|n| self.show_network(&guard, n))
            .collect())
    }

    pub async fn update_network(
        &self,
        ctx: &Context,
        id: NetworkId,
        update: NetworkUpdate,
        if_match: Option<i64>,
    ) -> Result<Shown<Network>, ServiceError> {
        let guard = self.guard(ctx);
        if let Some(name) = &update.name {
            check_length("name", name, NAME_MAX)?;
        }
        if let Some(description) = &update.description {
            check_length("description", description, NAME_MAX)?;
        }
        if let Some(mtu) = update.mtu {
            check_mtu(mtu)?;
        }
        let network = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let mut network = visible_network(tx.as_mut(), &guard, id).await?;
                    let target = network_target(&network);
                    guard.require(Action::UpdateNetwork, &target)?;
                    guard.require_fields(
                        &[(Action::UpdateNetworkShared, update.shared.is_some())],
                        &target,
                    )?;
                    check_revision(if_match, network.std.revision_number)?;
                    if let Some(name) = &update.name {
                        network.name = name.clone();
                    }
                    if let Some(description) = &update.description {
                        network.description = description.clone();
                    }
                    if let Some(admin_state_up) = update.admin_state_up {
                        network.admin_state_up = admin_state_up;
                    }
                    if let Some(shared) = update.shared {
                        network.shared = shared;
                    }
                    if let Some(mtu) = update.mtu {
                        network.mtu = mtu;
                    }
                    if let Some(port_security_enabled) = update.port_security_enabled {
                        network.port_security_enabled = port_security_enabled;
                    }
                    network.std.revision_number += 1;
                    network.std.updated_at = crate::model::now_timestamp();
                    tx.update_network(&network).await?;
                    super::outbox::record(
                        tx.as_mut(),
                        NewEvent::new(
                            network.std.revision_number,
                            NetworkEvent::Updated(event::NetworkUpdate::Attributes(NetworkRef {
                                id: network.id,
                            })),
                        ),
                    )
                    .await?;
                    Ok::<_, ServiceError>(network)
                })
            })
            .await?;
        Ok(self.show_network(&guard, network))
    }

    pub async fn delete_network(
        &self,
        ctx: &Context,
        id: NetworkId,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let guard = self.guard(ctx);
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let network = visible_network(tx.as_mut(), &guard, id).await?;
                guard.require(Action::DeleteNetwork, &network_target(&network))?;
                check_revision(if_match, network.std.revision_number)?;
                if tx.network_has_ports(id).await? {
                    return Err(ServiceError::conflict(
                        ErrorKind::NetworkInUse,
                        format!(
                            "Unable to complete operation on network {id}. \
                         There are one or more ports still in use on the network."
                        ),
                    ));
                }
                tx.delete_network(id).await?;
                super::outbox::record(
                    tx.as_mut(),
                    NewEvent::new(
                        network.std.revision_number + 1,
                        NetworkEvent::Deleted(NetworkRef { id }),
                    ),
                )
                .await?;
                Ok(())
            })
        })
        .await
    }
}
