//! Status changes from drivers (and, later, agents): only along the state machine's edges and
//! only from the revision the reporter acted on, so an old report never overwrites newer state.

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::drivers::{DriverError, StatusReporter};
use crate::ids::TrunkId;
use crate::model::TrunkStatus;
use crate::store::event::{StatusChange, TrunkChange};
use crate::store::NewEvent;

use super::{ErrorKind, Service, ServiceError};

/// Labels of the status-transition counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub from: &'static str,
    pub to: &'static str,
}

/// Trunk status transitions by edge, for `/metrics`.
pub type TransitionCounter = Family<TransitionLabels, Counter>;

impl Service {
    /// Moves `id` to `status` if its revision is still `acted_on`. Returns the trunk's revision
    /// afterwards. Errors: `TrunkNotFound`, 409 `StaleRevision`, 409 `InvalidStatusTransition`.
    pub async fn transition_trunk(
        &self,
        id: TrunkId,
        acted_on: i64,
        status: TrunkStatus,
    ) -> Result<i64, ServiceError> {
        self.transition_trunk_from(id, acted_on, status, None).await
    }

    /// As [`Service::transition_trunk`], for a report from the agent of `host`: refused (403)
    /// unless the trunk's parent port is bound to that host, checked in the same transaction.
    pub(crate) async fn transition_trunk_from(
        &self,
        id: TrunkId,
        acted_on: i64,
        status: TrunkStatus,
        host: Option<&str>,
    ) -> Result<i64, ServiceError> {
        self.write(|tx| {
            Box::pin(async {
                let tx = tx;
                let Some(mut trunk) = tx.get_trunk(id).await? else {
                    return Err(ServiceError::not_found(
                        ErrorKind::TrunkNotFound,
                        format!("Trunk {id} could not be found."),
                    ));
                };
                if let Some(host) = host {
                    let bound_to = tx.get_port(trunk.port_id).await?.map(|p| p.host_id);
                    if bound_to.as_deref() != Some(host) {
                        tracing::warn!(
                            trunk = %id,
                            reporter = host,
                            bound_to = bound_to.as_deref().unwrap_or(""),
                            "refused a status report about a trunk \
                             not bound to the reporting host"
                        );
                        return Err(ServiceError::Forbidden {
                            message: format!(
                                "Trunk {id} is not bound to host {host}; \
                             its agent may not report on it."
                            ),
                        });
                    }
                }
                if trunk.std.revision_number != acted_on {
                    return Err(ServiceError::conflict(
                        ErrorKind::StaleRevision,
                        format!(
                            "The report is about revision {acted_on} of trunk {id}, \
                         which is now at revision {}.",
                            trunk.std.revision_number
                        ),
                    ));
                }
                if trunk.status == status {
                    return Ok((status, acted_on));
                }
                if !trunk.status.can_move_to(status) {
                    return Err(ServiceError::conflict(
                        ErrorKind::InvalidStatusTransition,
                        format!("Trunk {id} cannot move from {} to {status}.", trunk.status),
                    ));
                }
                let from = trunk.status;
                trunk.status = status;
                trunk.std.revision_number += 1;
                trunk.std.updated_at = crate::model::now_timestamp();
                tx.update_trunk(&trunk).await?;
                // Not folded (service::outbox): a report is made while its driver delivers an
                // older event of this trunk, and folding that one in would hand it to the driver
                // again, whose report would fold it again, without end.
                tx.insert_event(&NewEvent::new(
                    trunk.std.revision_number,
                    TrunkChange::StatusChanged(StatusChange {
                        trunk_id: id,
                        from,
                        to: status,
                    }),
                ))
                .await?;
                tracing::info!(trunk = %id, %from, to = %status, "trunk status changed");
                Ok::<_, ServiceError>((from, trunk.std.revision_number))
            })
        })
        .await
        .map(|(from, revision)| {
            if from != status {
                self.transitions
                    .get_or_create(&TransitionLabels {
                        from: from.as_str(),
                        to: status.as_str(),
                    })
                    .inc();
            }
            revision
        })
    }
}

#[async_trait]
impl StatusReporter for Service {
    async fn report_status(
        &self,
        trunk: TrunkId,
        acted_on: i64,
        status: TrunkStatus,
    ) -> Result<Option<i64>, DriverError> {
        match self.transition_trunk(trunk, acted_on, status).await {
            Ok(revision) => Ok(Some(revision)),
            Err(ServiceError::NotFound { .. }) => Ok(None),
            Err(ServiceError::Conflict {
                kind: ErrorKind::StaleRevision,
                ..
            }) => Ok(None),
            Err(other) => Err(DriverError::Failed(other.to_string())),
        }
    }
}
