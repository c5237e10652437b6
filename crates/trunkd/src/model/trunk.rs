//! Trunks and subports.

use crate::ids::{PortId, ProjectId, TrunkId};
use crate::model::health::{self, ParentState, StatusReason, SubportHealth};
use crate::model::{PortStatus, StandardAttrs, TrunkStatus};

/// How a subport's traffic is told apart on the parent.
#[derive(Debug, Clone, PartialEq, Eq, Hash, PartialOrd, Ord)]
pub enum SegmentationType {
    Vlan,
    /// Copy the subport network's provider segmentation (resolved before storing).
    Inherit,
    /// A type inherited from a network (`vxlan`, `geneve`): stored after `inherit` resolution.
    Other(String),
}

impl SegmentationType {
    pub fn parse(text: &str) -> Self {
        match text {
            "vlan" => SegmentationType::Vlan,
            "inherit" => SegmentationType::Inherit,
            other => SegmentationType::Other(other.to_string()),
        }
    }

    pub fn as_str(&self) -> &str {
        match self {
            SegmentationType::Vlan => "vlan",
            SegmentationType::Inherit => "inherit",
            SegmentationType::Other(name) => name,
        }
    }
}

impl std::fmt::Display for SegmentationType {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(self.as_str())
    }
}

/// On the wire (the agent API) as its text, `"vlan"`.
impl serde::Serialize for SegmentationType {
    fn serialize<S: serde::Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        serializer.serialize_str(self.as_str())
    }
}

impl<'de> serde::Deserialize<'de> for SegmentationType {
    fn deserialize<D: serde::Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
        let text = String::deserialize(deserializer)?;
        Ok(SegmentationType::parse(&text))
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subport {
    pub port_id: PortId,
    pub segmentation_type: SegmentationType,
    pub segmentation_id: i64,
    /// Its port's status, as read with the trunk (written only through the port).
    pub port_status: PortStatus,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub id: TrunkId,
    pub project_id: ProjectId,
    pub port_id: PortId,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    /// Always what [`Trunk::derived_status`] gives: the service writes it in every
    /// transaction that changes an input of the rule (`model::health`).
    pub status: TrunkStatus,
    /// A driver's reason for refusing the trunk (ERROR), until subports are removed, the
    /// parent moves to another host, or the driver wires it after all.
    pub refusal: Option<String>,
    /// The parent port's status and binding, as read with the trunk.
    pub parent_state: ParentState,
    pub sub_ports: Vec<Subport>,
    pub std: StandardAttrs,
}

impl Trunk {
    /// The status the rule gives this trunk as it is now.
    pub fn derived_status(&self) -> TrunkStatus {
        health::derive_status(self.refusal.as_deref(), self.parent_state, &self.sub_ports)
    }

    /// Why the trunk is not ACTIVE, or `None`.
    pub fn status_reason(&self) -> Option<StatusReason> {
        health::trunk_reason(
            self.refusal.as_deref(),
            self.port_id,
            self.parent_state,
            &self.sub_ports,
        )
    }

    /// Each subport's status and reason, in `sub_ports` order.
    pub fn subport_health(&self) -> impl Iterator<Item = SubportHealth> + '_ {
        self.sub_ports
            .iter()
            .map(|s| health::subport_health(self.port_id, self.parent_state, s))
    }

    /// Sets the status the rule gives; the status it had, if that changed.
    pub fn rederive_status(&mut self) -> Option<TrunkStatus> {
        let next = self.derived_status();
        (next != self.status).then(|| std::mem::replace(&mut self.status, next))
    }
}
