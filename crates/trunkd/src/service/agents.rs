//! What host agents may ask and tell: the trunks bound to their host, status reports about
//! those trunks, and subport bindings. An agent acts only for the host its credential names:
//! a report about a trunk bound elsewhere is refused (403) and logged, an unknown status is a
//! 400, and a report from a stale revision or along an illegal edge of the state machine is a
//! 409. These are the checks Neutron's agent channel lacks.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

use crate::ids::{NetworkId, PortId, TrunkId};
use crate::model::{Port, SegmentationType, Trunk, TrunkStatus};
use crate::policy::Action;
use crate::store::{Filter, ListQuery, SubportBinding, Value};

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
                admin_state_up: trunk.admin_state_up,
                parent: agent_port(parent),
                sub_ports,
            });
        }
        wired.sort_by_key(|t| t.id.to_string());
        Ok(wired)
    }

    /// An agent's report that it wired `trunk` as of `revision`. Returns the new revision.
    pub async fn agent_report_status(
        &self,
        ctx: &Context,
        trunk: TrunkId,
        revision: i64,
        status: &str,
    ) -> Result<i64, ServiceError> {
        let host = agent_host(ctx)?;
        let Some(status) = TrunkStatus::parse(status) else {
            return Err(ServiceError::invalid_input(
                "status",
                format!("'{status}' is not one of DOWN, BUILD, ACTIVE, DEGRADED, ERROR"),
            ));
        };
        self.guard(ctx)
            .require(Action::UpdateTrunkStatus, &crate::policy::Target::new())?;
        self.transition_trunk_from(trunk, revision, status, Some(host))
            .await
    }

    /// Binds the subports of `trunk` to the agent's host, as the parent is. Returns the ports
    /// whose binding changed.
    pub async fn agent_bind_subports(
        &self,
        ctx: &Context,
        trunk_id: TrunkId,
    ) -> Result<Vec<PortId>, ServiceError> {
        let host = agent_host(ctx)?.to_string();
        self.write(|tx| {
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
