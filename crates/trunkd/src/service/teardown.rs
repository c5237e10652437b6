//! Teardown in one call (issue 20, item 2; extension `trunk-teardown`). Without it a client
//! that wants a trunk gone deletes the trunk, then each port, and a port that is a subport
//! cannot be deleted at all until it leaves its trunk: destroy runs loop, other readers see
//! the half-way states, and a failure half-way leaves leftovers. Here a trunk is deleted with
//! its parent and subport ports, or a subport port out of its trunk, in one write
//! transaction, all or nothing.
//!
//! Each step is the single operation's own writes (`delete_trunk_in`, `remove_subports_in`,
//! `delete_port_in`), so addresses go back to IPAM the same way and the outbox gets the same
//! events: drivers see a trunk deletion followed by port deletions, as if the calls had been
//! made one by one. Every permission is checked before anything is written.

use std::collections::HashMap;

use crate::ids::{PortId, TrunkId};
use crate::model::{Port, Trunk};
use crate::policy::Action;
use crate::store::{Membership, StoreTx};

use super::audit::Actor;
use super::ports::{port_not_found, port_target, visible_port};
use super::trunks::{check_manageable, trunk_target, visible_trunk};
use super::{check_revision, Context, ErrorKind, Guard, Service, ServiceError};

/// What a trunk deletion with its ports does when the parent port is bound to a host (an
/// instance uses it).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum BoundParent {
    /// 409, nothing changed: the caller unbinds first.
    Refuse,
    /// Deletes anyway (`force=true`; policy `delete_trunk:force`, admins by default).
    Force,
}

/// A port the caller may see and delete (404 / 403 as `delete_port` answers).
async fn deletable_port(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    id: PortId,
) -> Result<Port, ServiceError> {
    let port = visible_port(tx, guard, id).await?;
    guard.require(Action::DeletePort, &port_target(&port))?;
    Ok(port)
}

/// [`deletable_port`] for many, read in one statement, in the order of `ids`.
async fn deletable_ports(
    tx: &mut dyn StoreTx,
    guard: &Guard<'_>,
    ids: &[PortId],
) -> Result<Vec<Port>, ServiceError> {
    let mut found: HashMap<PortId, Port> = tx
        .get_ports(ids)
        .await?
        .into_iter()
        .map(|p| (p.id, p))
        .collect();
    ids.iter()
        .map(|id| {
            let port = found
                .remove(id)
                .filter(|p| guard.allows(Action::GetPort, &port_target(p)))
                .ok_or_else(|| port_not_found(*id))?;
            guard.require(Action::DeletePort, &port_target(&port))?;
            Ok(port)
        })
        .collect()
}

/// The 409 of a teardown while the parent is bound, naming the parent and its host.
fn parent_bound(trunk: &Trunk, parent: &Port) -> ServiceError {
    ServiceError::conflict(
        ErrorKind::TrunkInUse,
        format!(
            "Trunk {} cannot be deleted with its ports: its parent port {} is bound to host \
             {}. Unbind the parent first, or give force=true (admins only).",
            trunk.id, parent.id, parent.host_id
        ),
    )
}

/// The trunk's ports, subports first and the parent last: the order they are deleted in.
fn ports_of(trunk: &Trunk) -> Vec<PortId> {
    let mut ports: Vec<PortId> = trunk.sub_ports.iter().map(|s| s.port_id).collect();
    ports.push(trunk.port_id);
    ports
}

impl Service {
    /// `DELETE /v2.0/trunks/{id}?delete_ports=true`: the trunk, then every subport port and
    /// the parent port, in one transaction. Needs `delete_trunk` on the trunk and
    /// `delete_port` on every port; a bound parent is a 409 unless `bound` is
    /// [`BoundParent::Force`], which needs `delete_trunk:force`.
    pub async fn delete_trunk_with_ports(
        &self,
        ctx: &Context,
        id: TrunkId,
        bound: BoundParent,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let guard = self.guard(ctx);
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let trunk = visible_trunk(tx.as_mut(), &guard, id).await?;
                let target = trunk_target(&trunk);
                guard.require(Action::DeleteTrunk, &target)?;
                if bound == BoundParent::Force {
                    guard.require(Action::DeleteTrunkForce, &target)?;
                }
                check_revision(if_match, trunk.std.revision_number)?;
                let ports = ports_of(&trunk);
                let checked = deletable_ports(tx.as_mut(), &guard, &ports).await?;
                let bound_parent = checked
                    .iter()
                    .find(|p| p.id == trunk.port_id && p.is_bound());
                if let (Some(parent), BoundParent::Refuse) = (bound_parent, bound) {
                    return Err(parent_bound(&trunk, parent));
                }
                self.delete_trunk_in(tx.as_mut(), &Actor::of(ctx), &trunk)
                    .await?;
                // Read again: leaving the trunk changed the subports' bindings.
                let mut left: HashMap<PortId, Port> = tx
                    .get_ports(&ports)
                    .await?
                    .into_iter()
                    .map(|p| (p.id, p))
                    .collect();
                for id in ports {
                    let port = left.remove(&id).ok_or_else(|| port_not_found(id))?;
                    self.delete_port_in(tx.as_mut(), &port).await?;
                }
                Ok::<_, ServiceError>(())
            })
        })
        .await
    }

    /// `DELETE /v2.0/ports/{id}?remove_from_trunk=true`: a subport leaves its trunk (as
    /// `remove_subports` would; that permission is needed on the trunk too), then the port is
    /// deleted, in one transaction. A parent stays a 409: its trunk is deleted with
    /// `delete_ports=true` instead.
    pub async fn delete_port_from_trunk(
        &self,
        ctx: &Context,
        id: PortId,
        if_match: Option<i64>,
    ) -> Result<(), ServiceError> {
        let guard = self.guard(ctx);
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let mut port = deletable_port(tx.as_mut(), &guard, id).await?;
                check_revision(if_match, port.std.revision_number)?;
                if let Some(membership) = tx.memberships(&[id]).await?.into_iter().next() {
                    if membership.is_parent {
                        return Err(parent_of_a_trunk(&membership));
                    }
                    // A trunk the caller cannot see: the 409 a plain delete gives, which names
                    // only what the caller knows (its port, and that it is a member).
                    let trunk = visible_trunk(tx.as_mut(), &guard, membership.trunk_id)
                        .await
                        .map_err(|_| subport_of_a_trunk(id))?;
                    guard.require(Action::RemoveSubports, &trunk_target(&trunk))?;
                    check_manageable(&trunk)?;
                    self.remove_subports_in(tx.as_mut(), &Actor::of(ctx), trunk, &[id])
                        .await?;
                    // Read again: leaving the trunk changed its binding.
                    port = tx.get_port(id).await?.ok_or_else(|| port_not_found(id))?;
                }
                self.delete_port_in(tx.as_mut(), &port).await
            })
        })
        .await
    }
}

/// Neutron's `PortInUseAsSubPort` for a port whose trunk the caller cannot see.
fn subport_of_a_trunk(port: PortId) -> ServiceError {
    ServiceError::conflict(
        ErrorKind::PortInUseAsSubPort,
        format!("Port {port} is currently a subport of a trunk."),
    )
}

/// Neutron's `PortInUseAsTrunkParent`, with the way out this extension offers.
fn parent_of_a_trunk(membership: &Membership) -> ServiceError {
    let (port, trunk) = (membership.port_id, membership.trunk_id);
    ServiceError::conflict(
        ErrorKind::PortInUseAsTrunkParent,
        format!(
            "Port {port} is currently a parent port for trunk {trunk}. Delete the trunk with \
             delete_ports=true to delete it with its ports."
        ),
    )
}
