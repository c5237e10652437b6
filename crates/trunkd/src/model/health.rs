//! The one rule that derives a trunk's status, and each subport's, from what the data plane says
//! of their ports (DESIGN.md "Status"; issue 19, item 2). It is the same rule for every driver:
//! - ERROR: a driver refused the trunk (its reason is kept until subports are removed, the
//!   parent moves to another host, or the driver wires it after all);
//! - DOWN: the parent port is not ACTIVE;
//! - ACTIVE: the parent and every subport are ACTIVE;
//! - DEGRADED: the parent is ACTIVE and some subport is not.
//!
//! A subport is as its port is, unless its parent is not ACTIVE (then it is DOWN too: nothing
//! reaches it). Whatever is not ACTIVE carries a [`StatusReason`] a program can act on.
//!
//! Pure: the service applies [`derive_status`] in every transaction that changes one of its
//! inputs (a port's status, the parent's binding, the membership, a driver's verdict), so the
//! stored status, which lists filter on and whose changes move the revision, is always the
//! rule's answer. The reasons are derived on every read from the same inputs.

use crate::ids::PortId;
use crate::model::{PortStatus, Subport, TrunkStatus};

/// What the rule needs to know of the parent port.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct ParentState {
    pub status: PortStatus,
    /// Whether `binding:host_id` is set.
    pub bound: bool,
}

/// Why a trunk or subport is not ACTIVE: the machine-readable part of a reason.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum ReasonCode {
    /// The driver refused the trunk; its message says why.
    DriverRefused,
    /// The parent port is bound to no host, so no data plane carries the trunk.
    ParentUnbound,
    /// The parent port is bound but its data plane has not brought it up.
    ParentDown,
    /// The subport's own port is not up: no host has claimed it in the data plane.
    NotClaimed,
    /// The trunk's parent is up but some subports are not (each says why).
    SubportsNotActive,
}

impl ReasonCode {
    pub const ALL: [ReasonCode; 5] = [
        ReasonCode::DriverRefused,
        ReasonCode::ParentUnbound,
        ReasonCode::ParentDown,
        ReasonCode::NotClaimed,
        ReasonCode::SubportsNotActive,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            ReasonCode::DriverRefused => "driver_refused",
            ReasonCode::ParentUnbound => "parent_unbound",
            ReasonCode::ParentDown => "parent_down",
            ReasonCode::NotClaimed => "not_claimed",
            ReasonCode::SubportsNotActive => "subports_not_active",
        }
    }
}

/// A code and a sentence for a person.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StatusReason {
    pub code: ReasonCode,
    pub message: String,
}

/// A subport's status and, unless ACTIVE, why.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct SubportHealth {
    pub status: PortStatus,
    pub reason: Option<StatusReason>,
}

/// Why the parent keeps everything DOWN, or `None` when it is ACTIVE.
fn parent_reason(parent_id: PortId, parent: ParentState) -> Option<StatusReason> {
    if parent.status == PortStatus::Active {
        return None;
    }
    Some(if parent.bound {
        StatusReason {
            code: ReasonCode::ParentDown,
            message: format!(
                "Parent port {parent_id} is {}: its data plane has not brought it up.",
                parent.status
            ),
        }
    } else {
        StatusReason {
            code: ReasonCode::ParentUnbound,
            message: format!("Parent port {parent_id} is not bound to a host."),
        }
    })
}

/// The status of `subport` on a trunk whose parent is `parent_id` in `parent` state.
pub fn subport_health(parent_id: PortId, parent: ParentState, subport: &Subport) -> SubportHealth {
    if let Some(reason) = parent_reason(parent_id, parent) {
        return SubportHealth {
            status: PortStatus::Down,
            reason: Some(reason),
        };
    }
    match subport.port_status {
        PortStatus::Active => SubportHealth {
            status: PortStatus::Active,
            reason: None,
        },
        other => SubportHealth {
            status: other,
            reason: Some(StatusReason {
                code: ReasonCode::NotClaimed,
                message: format!(
                    "Port {} is {other}: no host has brought it up in the data plane.",
                    subport.port_id
                ),
            }),
        },
    }
}

/// The trunk's status by the rule (module documentation).
pub fn derive_status(
    refusal: Option<&str>,
    parent: ParentState,
    subports: &[Subport],
) -> TrunkStatus {
    if refusal.is_some() {
        TrunkStatus::Error
    } else if parent.status != PortStatus::Active {
        TrunkStatus::Down
    } else if subports.iter().all(|s| s.port_status == PortStatus::Active) {
        TrunkStatus::Active
    } else {
        TrunkStatus::Degraded
    }
}

/// Why the trunk has the status [`derive_status`] gives, or `None` when ACTIVE.
pub fn trunk_reason(
    refusal: Option<&str>,
    parent_id: PortId,
    parent: ParentState,
    subports: &[Subport],
) -> Option<StatusReason> {
    if let Some(refusal) = refusal {
        return Some(StatusReason {
            code: ReasonCode::DriverRefused,
            message: refusal.to_string(),
        });
    }
    if let Some(reason) = parent_reason(parent_id, parent) {
        return Some(reason);
    }
    let down = subports
        .iter()
        .filter(|s| s.port_status != PortStatus::Active)
        .count();
    (down > 0).then(|| StatusReason {
        code: ReasonCode::SubportsNotActive,
        message: format!(
            "{down} of {} subports are not ACTIVE; each says why.",
            subports.len()
        ),
    })
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::model::SegmentationType;
    use proptest::prelude::*;

    fn subport(status: PortStatus) -> Subport {
        Subport {
            port_id: PortId::new(),
            segmentation_type: SegmentationType::Vlan,
            segmentation_id: 10,
            port_status: status,
        }
    }

    const UP: ParentState = ParentState {
        status: PortStatus::Active,
        bound: true,
    };

    /// (refused, parent, subport statuses, trunk status, trunk reason)
    type Row = (
        bool,
        ParentState,
        &'static [PortStatus],
        TrunkStatus,
        Option<ReasonCode>,
    );

    #[test]
    fn the_documented_table() {
        use PortStatus::{Active, Down};
        let parent = PortId::new();
        let unbound = ParentState {
            status: Down,
            bound: false,
        };
        let bound_down = ParentState {
            status: Down,
            bound: true,
        };
        // Written out rather than derived from the code under test.
        let table: [Row; 8] = [
            (false, UP, &[], TrunkStatus::Active, None),
            (false, UP, &[Active, Active], TrunkStatus::Active, None),
            (
                false,
                UP,
                &[Active, Down],
                TrunkStatus::Degraded,
                Some(ReasonCode::SubportsNotActive),
            ),
            (
                false,
                bound_down,
                &[Active],
                TrunkStatus::Down,
                Some(ReasonCode::ParentDown),
            ),
            (
                false,
                unbound,
                &[],
                TrunkStatus::Down,
                Some(ReasonCode::ParentUnbound),
            ),
            (
                true,
                UP,
                &[Active],
                TrunkStatus::Error,
                Some(ReasonCode::DriverRefused),
            ),
            (
                true,
                unbound,
                &[Down],
                TrunkStatus::Error,
                Some(ReasonCode::DriverRefused),
            ),
            (
                false,
                UP,
                &[Down, Down],
                TrunkStatus::Degraded,
                Some(ReasonCode::SubportsNotActive),
            ),
        ];
        for (refused, state, statuses, status, reason) in table {
            let subports: Vec<Subport> = statuses.iter().map(|s| subport(*s)).collect();
            let refusal = refused.then_some("no");
            assert_eq!(derive_status(refusal, state, &subports), status);
            assert_eq!(
                trunk_reason(refusal, parent, state, &subports).map(|r| r.code),
                reason,
                "{state:?} {statuses:?}"
            );
        }
    }

    #[test]
    fn a_subport_of_a_parent_that_is_not_up_is_down_and_says_why() {
        let parent = PortId::new();
        let active = subport(PortStatus::Active);
        let health = subport_health(
            parent,
            ParentState {
                status: PortStatus::Down,
                bound: false,
            },
            &active,
        );
        assert_eq!(health.status, PortStatus::Down);
        assert_eq!(
            health.reason.map(|r| r.code),
            Some(ReasonCode::ParentUnbound)
        );
        let health = subport_health(
            parent,
            ParentState {
                status: PortStatus::Down,
                bound: true,
            },
            &active,
        );
        assert_eq!(health.reason.map(|r| r.code), Some(ReasonCode::ParentDown));
        let down = subport(PortStatus::Down);
        let health = subport_health(parent, UP, &down);
        assert_eq!(health.status, PortStatus::Down);
        let reason = health.reason.expect("a reason");
        assert_eq!(reason.code, ReasonCode::NotClaimed);
        assert!(reason.message.contains(&down.port_id.to_string()));
        assert_eq!(subport_health(parent, UP, &active).reason, None);
    }

    fn port_status() -> impl Strategy<Value = PortStatus> {
        prop::sample::select(PortStatus::ALL.to_vec())
    }

    proptest! {
        /// The trunk is ACTIVE exactly when it has no reason, and a DEGRADED trunk has a
        /// subport that is not ACTIVE and says why.
        #[test]
        fn status_and_reasons_agree(
            refused in any::<bool>(),
            parent_status in port_status(),
            bound in any::<bool>(),
            statuses in prop::collection::vec(port_status(), 0..6),
        ) {
            let parent = PortId::new();
            let state = ParentState { status: parent_status, bound };
            let subports: Vec<Subport> = statuses.iter().map(|s| subport(*s)).collect();
            let refusal = refused.then_some("refused");
            let status = derive_status(refusal, state, &subports);
            let reason = trunk_reason(refusal, parent, state, &subports);
            prop_assert_eq!(status == TrunkStatus::Active, reason.is_none());
            let healths: Vec<SubportHealth> =
                subports.iter().map(|s| subport_health(parent, state, s)).collect();
            for health in &healths {
                prop_assert_eq!(health.status == PortStatus::Active, health.reason.is_none());
            }
            if status == TrunkStatus::Degraded {
                prop_assert!(healths.iter().any(|h| h.reason.is_some()));
            }
            if status == TrunkStatus::Active {
                prop_assert!(healths.iter().all(|h| h.status == PortStatus::Active));
            }
        }
    }
}
