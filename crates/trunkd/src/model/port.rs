//! Ports: what a trunk parent or subport is, including binding attributes.

use crate::ids::{NetworkId, PortId, ProjectId};
use crate::model::{PortStatus, StandardAttrs};

/// `device_owner` of a port while it is a subport.
pub const SUBPORT_DEVICE_OWNER: &str = "trunk:subport";
/// `binding:vif_type` of a port with no host.
pub const VIF_UNBOUND: &str = "unbound";

#[derive(Debug, Clone, PartialEq, Eq, serde::Serialize, serde::Deserialize)]
pub struct FixedIp {
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub subnet_id: Option<String>,
    pub ip_address: String,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Port {
    pub id: PortId,
    pub project_id: ProjectId,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    pub mac_address: String,
    pub admin_state_up: bool,
    pub status: PortStatus,
    pub device_id: String,
    pub device_owner: String,
    pub fixed_ips: Vec<FixedIp>,
    pub host_id: String,
    pub vif_type: String,
    pub vnic_type: String,
    /// `binding:profile`, a JSON object kept as given.
    pub profile: serde_json::Map<String, serde_json::Value>,
    /// `port-security`: whether the data plane may filter this port's traffic (anti-spoofing,
    /// security groups). Taken from the port's network when a create does not give it.
    pub port_security_enabled: bool,
    pub std: StandardAttrs,
}

impl Port {
    pub fn is_bound(&self) -> bool {
        !self.host_id.is_empty()
    }

    /// What the trunk status rule needs of this port as a trunk's parent.
    pub fn parent_state(&self) -> crate::model::health::ParentState {
        crate::model::health::ParentState {
            status: self.status,
            bound: self.is_bound(),
        }
    }
}
