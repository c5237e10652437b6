//! What host agents may ask and tell: the trunks bound to their host, the state of the ports
//! they wired, their verdict on a trunk (wired, or refused and why), and subport bindings. An
//! agent acts only for the host its credential names: a report about a port or trunk bound
//! elsewhere is refused (403, nothing written) and logged, an unknown status is a 400, and a
//! verdict about a stale revision is a 409. No agent sets a trunk's status: it follows from
//! the ports and the verdict by the one rule (`model::health`). These are the checks
//! Neutron's agent channel lacks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::drivers::port_state::{DataPlaneState, PortStateReport};
use crate::drivers::Verdict;
use crate::ids::{NetworkId, PortId, TrunkId};
use crate::model::{Port, PortStatus, SegmentationType, Trunk, TrunkStatus};
use crate::policy::Action;
use crate::store::{Filter, ListQuery, SubportBinding, Value};

use super::audit::Actor;
use super::port_status::apply_port_states;
use super::{owned_target, Context, ErrorKind, Service, ServiceError};

/// `binding:vif_type` the ovs agent reports for ports it wires.
const VIF_OVS: &str = "ovs";

/// A port as an agent needs it to wire it.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentPort {
    pub port_id: PortId,
    pub mac_address: String,
    pub network_id: NetworkId,
    pub admin_state_up: bool,
    /// As stored: the agent reports the ports it wired that are not ACTIVE yet.
    pub status: PortStatus,
}

/// An agent's word on one port it wired (or unwired).
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentPortState {
    pub port_id: PortId,
    /// `ACTIVE` (wired) or `DOWN` (unwired).
    pub status: DataPlaneState,
}

/// `PUT /agent/v1/ports/status`: the states of ports bound to the agent's host.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentPortStates {
    pub ports: Vec<AgentPortState>,
}

/// `PUT /agent/v1/trunks/{id}/verdict`: the agent's verdict on one revision of a trunk.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentVerdict {
    /// The revision the agent acted on.
    pub revision_number: i64,
    #[serde(flatten)]
    pub verdict: AgentVerdictKind,
}

/// Wired, or refused with a reason for the user.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
#[serde(tag = "verdict", rename_all = "snake_case")]
pub enum AgentVerdictKind {
    Wired,
    Refused { reason: String },
}

impl From<AgentVerdictKind> for Verdict {
    fn from(kind: AgentVerdictKind) -> Self {
        match kind {
            AgentVerdictKind::Wired => Verdict::Wired,
            AgentVerdictKind::Refused { reason } => Verdict::Refused(reason),
        }
    }
}

#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentSubport {
    #[serde(flatten)]
    pub port: AgentPort,
    pub segmentation_type: SegmentationType,
    pub segmentation_id: i64,
}

/// A trunk to wire on the agent's host, at the revision it was read.
#[derive(Debug, Clone, Serialize, Deserialize, PartialEq, Eq)]
pub struct AgentTrunk {
    pub id: TrunkId,
    pub revision_number: i64,
    pub status: TrunkStatus,
    /// A driver's standing refusal of the trunk, so the agent repeats none and clears its own.
    #[serde(default)]
    pub refusal: Option<String>,
    pub admin_state_up: bool,
    pub parent: AgentPort,
    pub sub_ports: Vec<AgentSubport>,
}

fn agent_port(port: &Port) -> AgentPort {
    AgentPort {
        port_id: port.id,
        mac_address: port.mac_address.clone(),
        network_id: port.network_id,
        admin_state_up: port.admin_state_up,
        status: port.status,
    }
}

/// The host of an agent's context, or 403 for any other caller.
fn agent_host(ctx: &Context) -> Result<&str, ServiceError> {
    ctx.agent_host
        .as_deref()
        .ok_or_else(|| ServiceError::Forbidden {
            message: "Only a host agent, with its own credential, may use the agent API.".into(),
        })
}

impl Service {
    /// Every trunk whose parent port is bound to the agent's host, with what wiring needs.
    pub async fn agent_trunks(&self, ctx: &Context) -> Result<Vec<AgentTrunk>, ServiceError> {
        let host = agent_host(ctx)?;
        self.guard(ctx)
            .require(Action::GetAgentTrunks, &crate::policy::Target::new())?;
        let mut tx = self.read().await?;
        let mut query = ListQuery::everything();
        query.filters.push(Filter {
            attr: "binding:host_id",
            values: vec![Value::Text(host.to_string())],
        });
        let bound = tx.list_ports(&query).await?;
        let bound_ids: Vec<PortId> = bound.iter().map(|p| p.id).collect();
        let parents: Vec<TrunkId> = tx
            .memberships(&bound_ids)
            .await?
            .into_iter()
            .filter(|m| m.is_parent)
            .map(|m| m.trunk_id)
            .collect();
        let mut trunks: Vec<Trunk> = Vec::with_capacity(parents.len());
        for id in parents {
            if let Some(trunk) = tx.get_trunk(id).await? {
                trunks.push(trunk);
            }
        }
        let subport_ids: Vec<PortId> = trunks
            .iter()
            .flat_map(|t| t.sub_ports.iter().map(|s| s.port_id))
            .collect();
        let ports: BTreeMap<PortId, Port> = tx
            .get_ports(&subport_ids)
            .await?
            .into_iter()
            .chain(bound)
            .map(|p| (p.id, p))
            .collect();
        let mut wired = Vec::with_capacity(trunks.len());
        for trunk in trunks {
            let Some(parent) = ports.get(&trunk.port_id) else {
                continue;
            };
            let sub_ports = trunk
                .sub_ports
                .iter()
                .filter_map(|s| {
                    Some(AgentSubport {
                        port: agent_port(ports.get(&s.port_id)?),
                        segmentation_type: s.segmentation_type.clone(),
                        segmentation_id: s.segmentation_id,
                    })
                })
                .collect();
            wired.push(AgentTrunk {
                id: trunk.id,
                revision_number: trunk.std.revision_number,
                status: trunk.status,
                refusal: trunk.refusal.clone(),
                admin_state_up: trunk.admin_state_up,
                parent: agent_port(parent),
                sub_ports,
            });
        }
        wired.sort_by_key(|t| t.id.to_string());
        Ok(wired)
    }

    /// An agent's verdict on `trunk` as of the revision it names. Returns the new revision.
    pub async fn agent_report_verdict(
        &self,
        ctx: &Context,
        trunk: TrunkId,
        report: AgentVerdict,
    ) -> Result<i64, ServiceError> {
        let host = agent_host(ctx)?;
        self.guard(ctx)
            .require(Action::UpdateTrunkStatus, &crate::policy::Target::new())?;
        self.record_verdict_from(
            trunk,
            report.revision_number,
            report.verdict.into(),
            Some(host),
            &Actor::of(ctx),
        )
        .await
    }

    /// An agent's report of the ports it wired (ACTIVE) or unwired (DOWN). Every port must be
    /// bound to the agent's host, checked in the write's transaction: one that is not refuses
    /// the whole report (403) and nothing is written. Unknown ports are skipped (deleted
    /// meanwhile). Returns the ports whose status changed.
    pub async fn agent_report_ports(
        &self,
        ctx: &Context,
        report: &AgentPortStates,
    ) -> Result<usize, ServiceError> {
        let host = agent_host(ctx)?.to_string();
        self.guard(ctx)
            .require(Action::UpdateTrunkStatus, &crate::policy::Target::new())?;
        let reports: Vec<PortStateReport> = report
            .ports
            .iter()
            .map(|entry| PortStateReport {
                port: entry.port_id,
                state: entry.status,
            })
            .collect();
        let ids: Vec<PortId> = reports.iter().map(|r| r.port).collect();
        let (changed, transitions) = self
            .write(ctx, |tx| {
                Box::pin(async {
                    let tx = tx;
                    let ports = tx.get_ports(&ids).await?;
                    if let Some(port) = ports.iter().find(|p| p.host_id != host) {
                        tracing::warn!(
                            port = %port.id,
                            reporter = %host,
                            bound_to = %port.host_id,
                            "refused a port report about a port not bound to the reporting host"
                        );
                        return Err(ServiceError::Forbidden {
                            message: format!(
                                "Port {} is not bound to host {host}; \
                                 its agent may not report on it.",
                                port.id
                            ),
                        });
                    }
                    apply_port_states(tx.as_mut(), &Actor::of(ctx), &ports, &reports).await
                })
            })
            .await?;
        if changed > 0 {
            tracing::info!(ports = changed, agent = %host, "port status changed by an agent");
        }
        self.count_transitions(&transitions);
        Ok(changed)
    }

    /// Binds the subports of `trunk` to the agent's host, as the parent is. Returns the ports
    /// whose binding changed.
    pub async fn agent_bind_subports(
        &self,
        ctx: &Context,
        trunk_id: TrunkId,
    ) -> Result<Vec<PortId>, ServiceError> {
        let host = agent_host(ctx)?.to_string();
        self.write(ctx, |tx| {
            Box::pin(async {
                let tx = tx;
                let Some(trunk) = tx.get_trunk(trunk_id).await? else {
                    return Err(ServiceError::not_found(
                        ErrorKind::TrunkNotFound,
                        format!("Trunk {trunk_id} could not be found."),
                    ));
                };
                self.guard(ctx).require(
                    Action::UpdateSubportBindings,
                    &owned_target(&trunk.project_id),
                )?;
                let parent = tx.get_port(trunk.port_id).await?;
                if parent.as_ref().map(|p| p.host_id.as_str()) != Some(host.as_str()) {
                    tracing::warn!(trunk = %trunk_id, reporter = %host,
                        "refused to bind subports of a trunk not bound to the asking host");
                    return Err(ServiceError::Forbidden {
                        message: format!(
                            "Trunk {trunk_id} is not bound to host {host}; \
                             its agent may not bind its subports."
                        ),
                    });
                }
                let ids: Vec<PortId> = trunk.sub_ports.iter().map(|s| s.port_id).collect();
                let stale: Vec<PortId> = tx
                    .get_ports(&ids)
                    .await?
                    .into_iter()
                    .filter(|p| p.host_id != host || p.vif_type != VIF_OVS)
                    .map(|p| p.id)
                    .collect();
                if !stale.is_empty() {
                    tx.set_subport_bindings(
                        &stale,
                        &SubportBinding {
                            device_id: trunk.id.to_string(),
                            device_owner: crate::model::port::SUBPORT_DEVICE_OWNER.into(),
                            host_id: host.clone(),
                            vif_type: VIF_OVS.into(),
                            updated_at: crate::model::now_timestamp(),
                        },
                    )
                    .await?;
                }
                Ok::<_, ServiceError>(stale)
            })
        })
        .await
    }
}
