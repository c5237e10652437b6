//! Port status from the data plane (issue 19, item 1), and the trunk statuses that follow
//! from it (item 2). Drivers follow their data plane and report each port up or down
//! (`drivers::port_state`); host agents report the ports they wired (`service::agents`). Both
//! end here: what changed is written in one transaction per batch, together with the status
//! of every trunk the ports serve in, re-derived by the one rule (`model::health`). A report
//! names ports by id and says up or down, so it cannot touch another attribute or a port
//! that does not exist (skipped). A port's revision and `updated_at` do not move: they count
//! the API's changes, and a revision bump would make the drivers, which record it in the rows
//! they write, rewrite every port whose VIF came up. A trunk whose status changes does move
//! its revision (clients wait on it) and records a `status_changed` event.
//!
//! Besides reports, one fact sets a port's status: its binding. A port whose binding is
//! cleared is DOWN (no host carries a port bound nowhere). With no data plane (the `noop`
//! driver) a port is ACTIVE from the transaction that creates or binds it, so answers stay
//! final; see [`Service::initial_port_status`] and [`Service::status_on_binding`].

use std::collections::{BTreeSet, HashMap};

use async_trait::async_trait;

use crate::drivers::port_state::{PortStateReport, PortStateSink};
use crate::drivers::Settlement;
use crate::ids::{PortId, TrunkId};
use crate::model::{Port, PortStatus, Trunk, TrunkStatus};
use crate::store::event::{StatusChange, TrunkChange};
use crate::store::{NewEvent, StoreTx};

use super::audit::{record_trunk_change, Actor, AuditDetails};
use super::status::TransitionLabels;
use super::{Service, ServiceError};

/// A trunk status change a transaction made, counted once it commits.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub(crate) struct Transition {
    pub trunk: TrunkId,
    pub from: TrunkStatus,
    pub to: TrunkStatus,
}

impl Service {
    /// The status a new port is created with: ACTIVE when no driver has a data plane to report
    /// it (everything is settled in the transaction), else DOWN until the data plane says up.
    pub(crate) fn initial_port_status(&self) -> PortStatus {
        match self.drivers().settlement() {
            Settlement::InTransaction => PortStatus::Active,
            Settlement::OnDelivery | Settlement::Reported => PortStatus::Down,
        }
    }

    /// The status a port in `current` status takes when its binding moves from `old_host` to
    /// `new_host`: DOWN when the binding is cleared; ACTIVE when it is set and no data plane
    /// will report it; else unchanged, until the data plane says.
    pub(crate) fn status_on_binding(
        &self,
        current: PortStatus,
        old_host: &str,
        new_host: &str,
    ) -> PortStatus {
        if old_host == new_host {
            current
        } else if new_host.is_empty() {
            PortStatus::Down
        } else {
            match self.drivers().settlement() {
                Settlement::InTransaction => PortStatus::Active,
                Settlement::OnDelivery | Settlement::Reported => current,
            }
        }
    }

    /// Writes the reported states that differ from the stored statuses, then re-derives the
    /// status of every trunk those ports serve in; returns the ports changed.
    pub async fn record_port_states(
        &self,
        reports: &[PortStateReport],
    ) -> Result<usize, ServiceError> {
        let (changed, transitions) = self
            .write_internal(|tx| {
                Box::pin(async {
                    let tx = tx;
                    let ids: Vec<PortId> = reports.iter().map(|r| r.port).collect();
                    let ports = tx.get_ports(&ids).await?;
                    apply_port_states(tx.as_mut(), &Actor::driver(), &ports, reports).await
                })
            })
            .await?;
        if changed > 0 {
            tracing::info!(ports = changed, "port status changed by the data plane");
        }
        self.count_transitions(&transitions);
        Ok(changed)
    }

    /// Counts committed trunk status changes by edge, and logs each.
    pub(crate) fn count_transitions(&self, transitions: &[Transition]) {
        for t in transitions {
            tracing::info!(trunk = %t.trunk, from = %t.from, to = %t.to, "trunk status changed");
            self.transitions
                .get_or_create(&TransitionLabels {
                    from: t.from.as_str(),
                    to: t.to.as_str(),
                })
                .inc();
        }
    }
}

/// Writes `reports` that change a stored status and re-derives the trunks of the ports that
/// changed, in the caller's transaction. `ports` are the reported ports as the caller read
/// them in this transaction (a report about a port not among them is skipped). Returns the
/// number of ports changed and the trunk status changes.
pub(crate) async fn apply_port_states(
    tx: &mut dyn StoreTx,
    actor: &Actor,
    ports: &[Port],
    reports: &[PortStateReport],
) -> Result<(usize, Vec<Transition>), ServiceError> {
    let stored: HashMap<PortId, PortStatus> = ports.iter().map(|p| (p.id, p.status)).collect();
    let changes: Vec<(PortId, PortStatus)> = reports
        .iter()
        .map(|r| (r.port, r.state.status()))
        .filter(|(port, status)| stored.get(port).is_some_and(|s| s != status))
        .collect();
    write_port_statuses(tx, &changes).await?;
    let moved: Vec<PortId> = changes.iter().map(|(port, _)| *port).collect();
    let trunks: BTreeSet<TrunkId> = tx
        .memberships(&moved)
        .await?
        .into_iter()
        .map(|m| m.trunk_id)
        .collect();
    let transitions = rederive_all(tx, actor, trunks).await?;
    Ok((moved.len(), transitions))
}

/// [`rederive`] for each of `trunks` (one gone meanwhile is skipped).
pub(crate) async fn rederive_all(
    tx: &mut dyn StoreTx,
    actor: &Actor,
    trunks: impl IntoIterator<Item = TrunkId>,
) -> Result<Vec<Transition>, ServiceError> {
    let mut transitions = Vec::new();
    for id in trunks {
        if let Some(mut trunk) = tx.get_trunk(id).await? {
            transitions.extend(rederive(tx, actor, &mut trunk).await?);
        }
    }
    Ok(transitions)
}

/// Sets `trunk`'s status to what the rule gives from its inputs as read (or as the caller
/// changed them in memory). When that changes it, writes the trunk with its revision moved
/// and a `status_changed` event. For status changes with no other change to the trunk; a
/// write that changes the trunk anyway calls [`Trunk::rederive_status`] before its own
/// update.
pub(crate) async fn rederive(
    tx: &mut dyn StoreTx,
    actor: &Actor,
    trunk: &mut Trunk,
) -> Result<Option<Transition>, ServiceError> {
    rederive_with(tx, actor, trunk, AuditDetails::default()).await
}

/// [`rederive`], with what else the audit entry of a status change should say (a driver's
/// refusal, say).
pub(crate) async fn rederive_with(
    tx: &mut dyn StoreTx,
    actor: &Actor,
    trunk: &mut Trunk,
    details: AuditDetails,
) -> Result<Option<Transition>, ServiceError> {
    let Some(from) = trunk.rederive_status() else {
        return Ok(None);
    };
    trunk.std.revision_number += 1;
    trunk.std.updated_at = crate::model::now_timestamp();
    tx.update_trunk(trunk).await?;
    // Delivered on its own, not folded over older events (`Event::stands_alone`).
    record_trunk_change(
        tx,
        actor,
        &trunk.project_id,
        trunk.std.revision_number - 1,
        NewEvent::new(
            trunk.std.revision_number,
            TrunkChange::StatusChanged(StatusChange {
                trunk_id: trunk.id,
                from,
                to: trunk.status,
            }),
        ),
        details,
    )
    .await?;
    Ok(Some(Transition {
        trunk: trunk.id,
        from,
        to: trunk.status,
    }))
}

/// Writes the statuses in `changes`, grouped by status.
pub(crate) async fn write_port_statuses(
    tx: &mut dyn StoreTx,
    changes: &[(PortId, PortStatus)],
) -> Result<(), ServiceError> {
    for status in PortStatus::ALL {
        let ids: Vec<PortId> = changes
            .iter()
            .filter(|(_, s)| s == status)
            .map(|(id, _)| *id)
            .collect();
        if !ids.is_empty() {
            tx.set_port_status(&ids, *status).await?;
        }
    }
    Ok(())
}

#[async_trait]
impl PortStateSink for Service {
    async fn apply_port_states(&self, reports: &[PortStateReport]) -> Result<(), String> {
        self.record_port_states(reports)
            .await
            .map(|_| ())
            .map_err(|e| e.to_string())
    }
}
