//! The server side of the `ovs` driver. With Open vSwitch the wiring is done on each hypervisor
//! by `trunkd agent`, which fetches the trunks bound to its host over the agent API and reports
//! their status itself; so this driver moves no status. It vetoes, before commit, subports the
//! agents could not carry.
//!
//! Not yet here: notifying the agents over RabbitMQ after each commit. Until then agents
//! converge by their periodic resync, which they need anyway (notifications are only hints).

use async_trait::async_trait;

use super::{DriverError, StatusReporter, TrunkChange, TrunkDriver};
use crate::store::PendingEvent;

pub const SEGMENTATION_TYPES: &[&str] = &["vlan", "inherit"];

pub struct OvsDriver;

#[async_trait]
impl TrunkDriver for OvsDriver {
    fn name(&self) -> &'static str {
        "ovs"
    }

    fn segmentation_types(&self) -> &'static [&'static str] {
        SEGMENTATION_TYPES
    }

    /// A VM plugged into the integration bridge cannot be moved onto a trunk bridge.
    fn can_manage_bound_port(&self) -> bool {
        false
    }

    fn vif_type(&self) -> &'static str {
        "ovs"
    }

    fn precommit(&self, change: &TrunkChange<'_>) -> Result<(), DriverError> {
        super::refuse_non_vlan_subports("ovs", change)
    }

    async fn deliver(
        &self,
        _event: &PendingEvent,
        _status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        Ok(())
    }
}
