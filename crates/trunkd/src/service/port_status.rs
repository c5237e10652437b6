//! Port status from the data plane (issue 19, item 1). Drivers follow their data plane and
//! report each port up or down (`drivers::port_state`); this writes what changed, in one
//! transaction per batch, and nothing else: a report names ports by id and says up or down,
//! so it cannot touch another attribute or a port that does not exist (skipped). Neither the
//! revision nor `updated_at` moves: they count the API's changes, and a revision bump would
//! make the drivers, which record it in the rows they write, rewrite every port whose VIF
//! came up.
//!
//! With no data plane (the `noop` driver) a port is ACTIVE from the transaction that creates
//! it, so answers stay final; see [`Service::initial_port_status`].

use async_trait::async_trait;

use crate::drivers::port_state::{PortStateReport, PortStateSink};
use crate::drivers::Settlement;
use crate::ids::PortId;
use crate::model::PortStatus;

use super::Service;

impl Service {
    /// The status a new port is created with: ACTIVE when no driver has a data plane to report
    /// it (everything is settled in the transaction), else DOWN until the data plane says up.
    pub(crate) fn initial_port_status(&self) -> PortStatus {
        match self.drivers().settlement() {
            Settlement::InTransaction(_) => PortStatus::Active,
            Settlement::OnDelivery | Settlement::Reported => PortStatus::Down,
        }
    }

    /// Writes the reported states that differ from the stored statuses; the ports changed.
    pub async fn record_port_states(
        &self,
        reports: &[PortStateReport],
    ) -> Result<usize, super::ServiceError> {
        let ids: Vec<PortId> = reports.iter().map(|r| r.port).collect();
        self.write(|tx| {
            Box::pin(async {
                let tx = tx;
                let stored: std::collections::HashMap<PortId, PortStatus> = tx
                    .get_ports(&ids)
                    .await?
                    .into_iter()
                    .map(|port| (port.id, port.status))
                    .collect();
                let mut changed = 0;
                for status in [PortStatus::Active, PortStatus::Down] {
                    let moving: Vec<PortId> = reports
                        .iter()
                        .filter(|r| r.state.status() == status)
                        .filter(|r| stored.get(&r.port).is_some_and(|s| *s != status))
                        .map(|r| r.port)
                        .collect();
                    if !moving.is_empty() {
                        tx.set_port_status(&moving, status).await?;
                        changed += moving.len();
                    }
                }
                Ok::<_, super::ServiceError>(changed)
            })
        })
        .await
        .inspect(|changed| {
            if *changed > 0 {
                tracing::info!(ports = changed, "port status changed by the data plane");
            }
        })
    }
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
