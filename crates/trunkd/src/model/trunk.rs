//! Trunks and subports.

use crate::ids::{PortId, ProjectId, TrunkId};
use crate::model::{StandardAttrs, TrunkStatus};

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
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Trunk {
    pub id: TrunkId,
    pub project_id: ProjectId,
    pub port_id: PortId,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub status: TrunkStatus,
    pub sub_ports: Vec<Subport>,
    pub std: StandardAttrs,
}
