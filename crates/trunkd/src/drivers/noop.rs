//! The `noop` driver of the embedded default: no data plane, trunks go ACTIVE once committed.

use async_trait::async_trait;

use crate::model::TrunkStatus;
use crate::store::{PendingEvent, ResourceKind};

use super::{DriverError, StatusReporter, TrunkDriver};

pub struct NoopDriver;

pub const SEGMENTATION_TYPES: &[&str] = &["vlan", "inherit"];

/// Events after which a trunk needs (re)wiring.
const WIRING_EVENTS: &[&str] = &["created", "subports_added", "subports_removed"];

#[async_trait]
impl TrunkDriver for NoopDriver {
    fn name(&self) -> &'static str {
        "noop"
    }

    fn segmentation_types(&self) -> &'static [&'static str] {
        SEGMENTATION_TYPES
    }

    fn can_manage_bound_port(&self) -> bool {
        true
    }

    fn vif_type(&self) -> &'static str {
        "other"
    }

    async fn deliver(
        &self,
        event: &PendingEvent,
        status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        if event.resource != ResourceKind::Trunk || !WIRING_EVENTS.contains(&event.event.as_str()) {
            return Ok(());
        }
        let trunk = event
            .resource_id
            .parse()
            .map_err(|_| DriverError::Failed(format!("bad trunk id {}", event.resource_id)))?;
        // Straight to ACTIVE, as a driver that wires synchronously reports, and only if nobody
        // changed the trunk meanwhile. Not via BUILD: were the process killed between the two
        // reports, the event's redelivery would find the trunk moved on from the revision it
        // names (by the BUILD report) and leave it in BUILD for good.
        status
            .report_status(trunk, event.revision_number, TrunkStatus::Active)
            .await?;
        Ok(())
    }
}
