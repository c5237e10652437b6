//! The `noop` driver of the embedded default: no data plane; ports are ACTIVE from the
//! transaction that creates or binds them, so trunks are ACTIVE by the status rule from the
//! transaction that changes them.

use async_trait::async_trait;

use crate::model::SegmentationType;
use crate::store::event::{Event, NetworkEvent, PortEvent, SubnetEvent, TrunkEventKind};
use crate::store::PendingEvent;

use super::{DriverError, Settlement, StatusReporter, TrunkDriver};

pub struct NoopDriver;

pub const SEGMENTATION_TYPES: &[SegmentationType] =
    &[SegmentationType::Vlan, SegmentationType::Inherit];

#[async_trait]
impl TrunkDriver for NoopDriver {
    fn name(&self) -> &'static str {
        "noop"
    }

    /// There is nothing to wire, so the status is known before commit: ports, and so trunks,
    /// are ACTIVE in the write's own transaction and every answer is final (a status report
    /// after the answer would make the answer stale, revision and status both).
    fn settlement(&self) -> Settlement {
        Settlement::InTransaction
    }

    fn segmentation_types(&self) -> &'static [SegmentationType] {
        SEGMENTATION_TYPES
    }

    fn can_manage_bound_port(&self) -> bool {
        true
    }

    fn vif_type(&self) -> &'static str {
        "other"
    }

    /// Nothing to do: the status was written with the change.
    async fn deliver(
        &self,
        event: &PendingEvent,
        _status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        match &event.event {
            Event::Network(
                NetworkEvent::Created(_) | NetworkEvent::Updated(_) | NetworkEvent::Deleted(_),
            )
            | Event::Subnet(
                SubnetEvent::Created(_) | SubnetEvent::Updated(_) | SubnetEvent::Deleted(_),
            )
            | Event::Port(PortEvent::Created(_) | PortEvent::Updated(_) | PortEvent::Deleted(_)) => {
                Ok(())
            }
            Event::Trunk(trunk) => match trunk.kind() {
                TrunkEventKind::Created
                | TrunkEventKind::Updated
                | TrunkEventKind::Deleted
                | TrunkEventKind::SubportsAdded
                | TrunkEventKind::SubportsRemoved
                | TrunkEventKind::ParentBound
                | TrunkEventKind::ParentUnbound
                | TrunkEventKind::StatusChanged => Ok(()),
            },
        }
    }
}
