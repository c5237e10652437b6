//! A driver's verdict on a trunk: wired, or refused with a reason (a host agent's comes through
//! the agent API, checked against its host). The verdict is the one status input a driver
//! gives; the status itself follows from the rule (`model::health`): a refusal makes the trunk
//! ERROR, and its reason is shown until subports are removed or the parent moves to another
//! host (those writes clear it; the drivers judge the new revision) or the driver reports the
//! trunk wired after all. A verdict names the revision it judged, so an old verdict never
//! overwrites newer state.

use async_trait::async_trait;
use prometheus_client::encoding::EncodeLabelSet;
use prometheus_client::metrics::counter::Counter;
use prometheus_client::metrics::family::Family;

use crate::drivers::{DriverError, StatusReporter, Verdict};
use crate::ids::TrunkId;

use super::audit::{record_entry, Actor, AuditDetails, Move};
use super::port_status::rederive_with;
use super::{ErrorKind, Service, ServiceError};
use crate::store::event::TrunkEventKind;

/// Labels of the status-transition counter.
#[derive(Clone, Debug, Hash, PartialEq, Eq, EncodeLabelSet)]
pub struct TransitionLabels {
    pub from: &'static str,
    pub to: &'static str,
}

/// Trunk status changes made by data plane reports and verdicts, by edge, for `/metrics`.
pub type TransitionCounter = Family<TransitionLabels, Counter>;

impl Service {
    /// Records `verdict` on `id` if its revision is still `acted_on`. Returns the trunk's
    /// revision afterwards. Errors: `TrunkNotFound`, 409 `StaleRevision`.
    pub async fn record_verdict(
        &self,
        id: TrunkId,
        acted_on: i64,
        verdict: Verdict,
    ) -> Result<i64, ServiceError> {
        self.record_verdict_from(id, acted_on, verdict, None, &Actor::driver())
            .await
    }

    /// As [`Service::record_verdict`], from the agent of `host`: refused (403) unless the
    /// trunk's parent port is bound to that host, checked in the same transaction.
    pub(crate) async fn record_verdict_from(
        &self,
        id: TrunkId,
        acted_on: i64,
        verdict: Verdict,
        host: Option<&str>,
        actor: &Actor,
    ) -> Result<i64, ServiceError> {
        let refusal = match verdict {
            Verdict::Wired => None,
            Verdict::Refused(reason) => Some(reason),
        };
        let (revision, transition) = self
            .write_internal(|tx| {
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
                                "refused a verdict about a trunk not bound to the reporting host"
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
                    if trunk.refusal == refusal {
                        return Ok((acted_on, None));
                    }
                    if let Some(reason) = &refusal {
                        tracing::warn!(trunk = %id, reason = %reason, "a driver refused the trunk");
                    }
                    let previous = std::mem::replace(&mut trunk.refusal, refusal.clone());
                    let details = AuditDetails {
                        refusal: Some(Move {
                            from: previous,
                            to: refusal.clone(),
                        }),
                        ..AuditDetails::default()
                    };
                    let transition =
                        rederive_with(tx.as_mut(), actor, &mut trunk, details.clone()).await?;
                    if transition.is_none() {
                        // Only the reason changed (one refusal for another): still a change,
                        // which no data plane acts on (no event) but the trail records.
                        trunk.std.revision_number += 1;
                        trunk.std.updated_at = crate::model::now_timestamp();
                        tx.update_trunk(&trunk).await?;
                        record_entry(
                            tx.as_mut(),
                            actor,
                            (trunk.id, &trunk.project_id),
                            TrunkEventKind::StatusChanged,
                            (trunk.std.revision_number - 1, trunk.std.revision_number),
                            &details,
                        )
                        .await?;
                    }
                    Ok::<_, ServiceError>((trunk.std.revision_number, transition))
                })
            })
            .await?;
        self.count_transitions(transition.as_slice());
        Ok(revision)
    }
}

#[async_trait]
impl StatusReporter for Service {
    async fn report_verdict(
        &self,
        trunk: TrunkId,
        acted_on: i64,
        verdict: Verdict,
    ) -> Result<Option<i64>, DriverError> {
        match self.record_verdict(trunk, acted_on, verdict).await {
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
