//! The guest configuration of a trunk (extension `trunk-guest-config`): reads the trunk, its
//! parent and subport ports, their networks and subnets in one read transaction, so the
//! answer is one consistent state even while subports are added or removed, and hands them to
//! the pure builder in `model::guest`.

use std::collections::BTreeSet;

use crate::ids::{NetworkId, PortId, TrunkId};
use crate::model::guest::{self, GuestConfig, GuestConfigError, TrunkNetworking};
use crate::policy::Action;

use super::ports::port_target;
use super::subnets::subnet_target;
use super::trunks::{trunk_target, visible_trunk};
use super::{Context, ErrorKind, Service, ServiceError};

impl Service {
    /// What the guest needs to bring the trunk's VLAN sub-interfaces up. Authorised like
    /// showing the trunk, by its own rule; a caller the rule refuses gets `TrunkNotFound`, as
    /// for `get_subports`.
    pub async fn trunk_guest_config(
        &self,
        ctx: &Context,
        id: TrunkId,
    ) -> Result<GuestConfig, ServiceError> {
        let guard = self.guard(ctx);
        let mut tx = self.read().await?;
        let trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
        if !guard.allows(Action::GetTrunkGuestConfig, &trunk_target(&trunk)) {
            return Err(ServiceError::not_found(
                ErrorKind::TrunkNotFound,
                format!("Trunk {id} could not be found."),
            ));
        }
        let port_ids: Vec<PortId> = std::iter::once(trunk.port_id)
            .chain(trunk.sub_ports.iter().map(|s| s.port_id))
            .collect();
        let mut ports = tx.get_ports(&port_ids).await?;
        // A member port the caller may not read (an admin put another project's port in the
        // trunk) still is a sub-interface, but its addresses are not the caller's to learn.
        for port in &mut ports {
            if !guard.allows(Action::GetPort, &port_target(port)) {
                port.fixed_ips.clear();
            }
        }
        let network_ids: Vec<NetworkId> = ports
            .iter()
            .map(|p| p.network_id)
            .collect::<BTreeSet<_>>()
            .into_iter()
            .collect();
        let networks = tx.get_networks(&network_ids).await?;
        let mut subnets = Vec::new();
        for network in &network_ids {
            subnets.extend(
                tx.subnets_of_network(*network)
                    .await?
                    .into_iter()
                    .filter(|subnet| guard.allows(Action::GetSubnet, &subnet_target(subnet))),
            );
        }
        drop(tx);
        guest::build(&TrunkNetworking {
            trunk: &trunk,
            ports: &ports,
            networks: &networks,
            subnets: &subnets,
        })
        .map_err(|error| match error {
            GuestConfigError::NotVlan { .. } => {
                ServiceError::conflict(ErrorKind::SubPortNotVlan, error.to_string())
            }
            GuestConfigError::Inconsistent(message) => ServiceError::Internal { message },
        })
    }
}
