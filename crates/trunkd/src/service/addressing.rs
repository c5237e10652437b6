//! Where ports meet IP address management (`service::ipam`): the subnets of a port's network,
//! read once per transaction; who may choose an address; a failed plan turned into Neutron's
//! answer; and what subnet changes do to ports (a changed pool's free ranges, the addresses of
//! automatic subnets given to and taken from every port of the network). Every function runs
//! inside the caller's write transaction.

use std::collections::hash_map::Entry;
use std::collections::HashMap;

use crate::ids::{NetworkId, ProjectId, SubnetId};
use crate::model::{Network, Port, Subnet};
use crate::policy::{Action, PortWriteAttr};
use crate::store::event::{self, PortEvent, PortUpdated};
use crate::store::ipam::{ranges_less, Address};
use crate::store::{Filter, ListQuery, NewEvent, StoreTx, Value};

use super::ipam::{self, Allocator, FixedIpRequest, PlanError, SubnetRange};
use super::subnets::visible_subnet;
use super::{owned_target, Guard, ServiceError};

/// `create_port:fixed_ips:*` / `update_port:fixed_ips:*`: choosing an address is for the
/// network's owner (and admins, services), naming a subnet also for anyone on a shared
/// network, as in Neutron. Checked against the port's network, read in the transaction.
pub(crate) fn require_fixed_ips(
    guard: &Guard<'_>,
    action: fn(PortWriteAttr) -> Action,
    entries: Option<&[FixedIpRequest]>,
    network: &Network,
    project: &ProjectId,
) -> Result<(), ServiceError> {
    let Some(entries) = entries else {
        return Ok(());
    };
    let mut target = owned_target(project);
    target.insert(
        "network:project_id".into(),
        network.project_id.as_str().into(),
    );
    target.insert("network_id".into(), network.id.to_string().into());
    target.insert("shared".into(), network.shared.into());
    guard.require_fields(
        &[
            (
                action(PortWriteAttr::FixedIpsIpAddress),
                entries.iter().any(|e| e.ip_address.is_some()),
            ),
            (
                action(PortWriteAttr::FixedIpsSubnetId),
                entries.iter().any(|e| e.subnet_id.is_some()),
            ),
        ],
        &target,
    )
}

/// The subnets of the networks a request's ports are on, each read once per transaction (a
/// bulk create of ports on one network reads them once).
#[derive(Default)]
pub(crate) struct NetworkSubnets {
    read: HashMap<NetworkId, Vec<SubnetRange>>,
}

impl NetworkSubnets {
    pub(crate) async fn of(
        &mut self,
        tx: &mut dyn StoreTx,
        network: NetworkId,
    ) -> Result<&[SubnetRange], ServiceError> {
        if let Entry::Vacant(slot) = self.read.entry(network) {
            let ranges = tx
                .subnets_of_network(network)
                .await?
                .iter()
                .map(SubnetRange::of)
                .collect::<Result<Vec<_>, _>>()?;
            slot.insert(ranges);
        }
        Ok(self
            .read
            .get(&network)
            .map(Vec::as_slice)
            .unwrap_or_default())
    }
}

/// The answer to a `fixed_ips` plan that failed: its own refusal, or for a subnet of another
/// network Neutron's 400, and for one the caller cannot see (or that does not exist) a 404.
pub(crate) async fn plan_refusal(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    network: NetworkId,
    error: PlanError,
) -> ServiceError {
    match error {
        PlanError::Refused(error) => error,
        PlanError::Foreign(ipam::ForeignSubnet(subnet)) => {
            match visible_subnet(tx, guard, subnet).await {
                Ok(_) => foreign_subnet(network, subnet),
                Err(error) => error,
            }
        }
    }
}

fn foreign_subnet(network: NetworkId, subnet: SubnetId) -> ServiceError {
    ServiceError::invalid_input(
        "fixed_ips",
        format!(
            "Failed to create port on network {network}, because fixed_ips included invalid \
             subnet {subnet}"
        ),
    )
}

/// Rewrites a subnet's free ranges from its (changed) pools, less the addresses held.
pub(crate) async fn reseed(tx: &mut dyn StoreTx, subnet: &Subnet) -> Result<(), ServiceError> {
    let range = SubnetRange::of(subnet)?;
    tx.ipam().clear_free_ranges(subnet.id).await?;
    let free = if range.automatic {
        Vec::new()
    } else {
        let in_use = tx.ipam().addresses_in_use(subnet.id).await?;
        ranges_less(&range.pools, &in_use)
    };
    tx.ipam().seed_free_ranges(subnet.id, &free).await?;
    Ok(())
}

/// The ports of a subnet's network, in one read.
async fn ports_of_network(
    tx: &mut dyn StoreTx,
    network: NetworkId,
) -> Result<Vec<Port>, ServiceError> {
    let query = ListQuery {
        filters: vec![Filter {
            attr: "network_id",
            values: vec![Value::Text(network.to_string())],
        }],
        ..ListQuery::everything()
    };
    Ok(tx.list_ports(&query).await?)
}

/// Records that a port's addresses changed, for the data planes.
async fn port_readdressed(tx: &mut dyn StoreTx, port: &Port) -> Result<(), ServiceError> {
    super::outbox::record(
        tx,
        NewEvent::new(
            port.std.revision_number,
            PortEvent::Updated(event::PortUpdate::Attributes(PortUpdated::new(
                port.id,
                port.host_id.clone(),
            ))),
        ),
    )
    .await
}

/// Gives every port of a new automatic subnet's network its EUI-64 address there.
pub(crate) async fn address_ports(
    tx: &mut dyn StoreTx,
    subnet: &Subnet,
) -> Result<(), ServiceError> {
    let range = SubnetRange::of(subnet)?;
    let subnets = [range];
    let allocator = Allocator {
        subnets: &subnets,
        network: subnet.network_id,
    };
    for mut port in ports_of_network(tx, subnet.network_id).await? {
        let Some(ip) = ipam::eui64(&subnets[0].net, &port.mac_address) else {
            continue;
        };
        let want = ipam::Want::Exact {
            subnet: subnet.id,
            ip,
        };
        let taken = allocator.take(tx, port.id, &[want]).await?;
        port.fixed_ips.extend(taken);
        port.std.revision_number += 1;
        port.std.updated_at = crate::model::now_timestamp();
        tx.update_port(&port).await?;
        port_readdressed(tx, &port).await?;
    }
    Ok(())
}

/// Takes a deleted automatic subnet's addresses off the ports that hold them.
pub(crate) async fn unaddress_ports(
    tx: &mut dyn StoreTx,
    subnet: &Subnet,
) -> Result<(), ServiceError> {
    let id = subnet.id.to_string();
    for mut port in ports_of_network(tx, subnet.network_id).await? {
        let before = port.fixed_ips.len();
        let mut dropped = Vec::new();
        port.fixed_ips.retain(|fixed| {
            let on_subnet = fixed.subnet_id.as_deref() == Some(id.as_str());
            if on_subnet {
                dropped.push(fixed.ip_address.clone());
            }
            !on_subnet
        });
        if port.fixed_ips.len() == before {
            continue;
        }
        for ip in dropped {
            if let Ok(ip) = ip.parse() {
                tx.ipam()
                    .delete_allocation(subnet.id, Address::of(ip))
                    .await?;
            }
        }
        port.std.revision_number += 1;
        port.std.updated_at = crate::model::now_timestamp();
        tx.update_port(&port).await?;
        port_readdressed(tx, &port).await?;
    }
    Ok(())
}
