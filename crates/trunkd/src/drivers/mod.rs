//! Trunk drivers: the data planes that wire trunks. The service asks the loaded drivers what
//! they support and lets them veto a change inside its transaction; after commit the
//! [`dispatcher`] hands them the change's outbox event, at least once and in order per resource.

pub mod delivered;
pub mod dispatcher;
pub mod folding;
pub mod noop;
pub mod ovn;
pub mod ovs;
pub mod port_state;

use std::sync::Arc;

use async_trait::async_trait;

use crate::ids::TrunkId;
use crate::model::{SegmentationType, Trunk};
use crate::store::PendingEvent;

#[derive(Debug, thiserror::Error)]
pub enum DriverError {
    /// The driver refuses a change (inside the transaction): a 409 with this reason.
    #[error("{0}")]
    Refused(String),
    /// The data plane could not be programmed now; the event will be retried.
    #[error("{0}")]
    Failed(String),
}

/// A change to a trunk, shown to drivers before commit.
#[derive(Debug)]
pub enum TrunkChange<'a> {
    Create(&'a Trunk),
    AddSubports(&'a Trunk),
    RemoveSubports(&'a Trunk),
    Delete(&'a Trunk),
}

/// A driver's judgement of one revision of a trunk.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum Verdict {
    /// Its data plane carries the trunk (clears an earlier refusal).
    Wired,
    /// Its data plane cannot carry the trunk, for this reason: the trunk is ERROR until it
    /// changes or a later verdict says wired.
    Refused(String),
}

/// How a driver gives its verdict on a trunk after commit, from the revision it acted on.
/// The trunk's status follows from the verdict and its ports' statuses by one rule
/// (`model::health`); no driver sets a status. Implemented by the service.
#[async_trait]
pub trait StatusReporter: Send + Sync {
    /// Records `verdict` on `trunk` if its revision is still `acted_on`. Returns the new
    /// revision, or `None` when the trunk is gone or has moved on (the verdict is obsolete,
    /// not an error).
    async fn report_verdict(
        &self,
        trunk: TrunkId,
        acted_on: i64,
        verdict: Verdict,
    ) -> Result<Option<i64>, DriverError>;
}

/// When a driver's part in a trunk change is done, which decides what the API can answer: a
/// create or update answer must say what a GET right after it says.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Settlement {
    /// Nothing to wire and no data plane to report ports: ports are ACTIVE from the
    /// transaction that creates or binds them, so the answer is final.
    InTransaction,
    /// Wired when the dispatcher delivers the change's event (a database the driver writes
    /// at once): the API waits, bounded, for that delivery and answers with the state after it.
    OnDelivery,
    /// Wired later by someone who reports status on their own (a host agent): the answer is
    /// the committed state, and the trunk moves on when the report comes.
    Reported,
}

#[async_trait]
pub trait TrunkDriver: Send + Sync {
    fn name(&self) -> &'static str;
    /// When its part in a change is done (no default: each driver says).
    fn settlement(&self) -> Settlement;
    /// Segmentation types this driver can wire.
    fn segmentation_types(&self) -> &'static [SegmentationType];
    /// Whether it can trunk or untrunk a port that is already bound to a host.
    fn can_manage_bound_port(&self) -> bool;
    /// `binding:vif_type` of ports it binds.
    fn vif_type(&self) -> &'static str;
    /// Inside the transaction: refuse a change the data plane could not carry.
    fn precommit(&self, _change: &TrunkChange<'_>) -> Result<(), DriverError> {
        Ok(())
    }
    /// After commit: act on one outbox event. Must be idempotent. Drivers match the event
    /// without a `_` arm, so that a new event is a decision for each of them; a trunk event
    /// whose kind is not [`is_wiring`](crate::store::event::TrunkEventKind::is_wiring) may be
    /// folded away before delivery, so only wiring events may be acted on.
    async fn deliver(
        &self,
        event: &PendingEvent,
        status: &dyn StatusReporter,
    ) -> Result<(), DriverError>;
}

/// For data planes that carry a subport as a VLAN tag on its parent (OVN, Open vSwitch): refuses
/// subports whose segmentation, given or inherited, is not a VLAN ID 1-4094.
pub fn refuse_non_vlan_subports(driver: &str, change: &TrunkChange<'_>) -> Result<(), DriverError> {
    let trunk = match change {
        TrunkChange::Create(trunk) | TrunkChange::AddSubports(trunk) => trunk,
        TrunkChange::RemoveSubports(_) | TrunkChange::Delete(_) => return Ok(()),
    };
    match trunk.sub_ports.iter().find(|s| {
        s.segmentation_type != SegmentationType::Vlan || !(1..=4094).contains(&s.segmentation_id)
    }) {
        Some(subport) => Err(DriverError::Refused(format!(
            "The {driver} driver carries subports as VLAN IDs 1-4094; subport {} would use {} {}.",
            subport.port_id,
            subport.segmentation_type.as_str(),
            subport.segmentation_id
        ))),
        None => Ok(()),
    }
}

/// The segmentation types in every one of `each` (none when `each` is empty).
pub fn shared_segmentation_types(
    each: impl IntoIterator<Item = &'static [SegmentationType]>,
) -> Vec<SegmentationType> {
    let mut lists = each.into_iter();
    let Some(first) = lists.next() else {
        return Vec::new();
    };
    let rest: Vec<_> = lists.collect();
    first
        .iter()
        .filter(|t| rest.iter().all(|list| list.contains(t)))
        .cloned()
        .collect()
}

/// The drivers loaded in this process, and what they support together.
#[derive(Clone)]
pub struct DriverSet {
    drivers: Vec<Arc<dyn TrunkDriver>>,
}

impl DriverSet {
    pub fn new(drivers: Vec<Arc<dyn TrunkDriver>>) -> Self {
        Self { drivers }
    }

    pub fn drivers(&self) -> &[Arc<dyn TrunkDriver>] {
        &self.drivers
    }

    pub fn names(&self) -> Vec<&'static str> {
        self.drivers.iter().map(|d| d.name()).collect()
    }

    /// Segmentation types every loaded driver supports.
    pub fn segmentation_types(&self) -> Vec<SegmentationType> {
        shared_segmentation_types(self.drivers.iter().map(|d| d.segmentation_types()))
    }

    pub fn supports_segmentation(&self, segmentation_type: &SegmentationType) -> bool {
        !self.drivers.is_empty()
            && self
                .drivers
                .iter()
                .all(|d| d.segmentation_types().contains(segmentation_type))
    }

    pub fn can_manage_bound_port(&self) -> bool {
        self.drivers.iter().all(|d| d.can_manage_bound_port())
    }

    pub fn vif_type(&self) -> &'static str {
        self.drivers
            .first()
            .map(|d| d.vif_type())
            .unwrap_or("other")
    }

    pub fn precommit(&self, change: &TrunkChange<'_>) -> Result<(), DriverError> {
        self.drivers.iter().try_for_each(|d| d.precommit(change))
    }

    /// When the loaded drivers together are done with a change: in the transaction only if
    /// every one of them is; else on delivery if any driver
    /// wires on delivery; else when reported.
    pub fn settlement(&self) -> Settlement {
        let each: Vec<Settlement> = self.drivers.iter().map(|d| d.settlement()).collect();
        match each.first() {
            Some(Settlement::InTransaction)
                if each.iter().all(|s| *s == Settlement::InTransaction) =>
            {
                Settlement::InTransaction
            }
            _ if each.contains(&Settlement::OnDelivery) => Settlement::OnDelivery,
            _ => Settlement::Reported,
        }
    }
}
