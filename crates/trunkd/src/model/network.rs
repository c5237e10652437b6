//! Networks: the minimal model trunks need (provider segmentation and MTU).

use crate::ids::{NetworkId, ProjectId};
use crate::model::{NetworkStatus, StandardAttrs};

/// `provider:network_type` values trunkd knows.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum NetworkType {
    Vlan,
    Vxlan,
    Geneve,
    Flat,
    Local,
}

impl NetworkType {
    pub const ALL: [NetworkType; 5] = [
        NetworkType::Vlan,
        NetworkType::Vxlan,
        NetworkType::Geneve,
        NetworkType::Flat,
        NetworkType::Local,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            NetworkType::Vlan => "vlan",
            NetworkType::Vxlan => "vxlan",
            NetworkType::Geneve => "geneve",
            NetworkType::Flat => "flat",
            NetworkType::Local => "local",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|t| t.as_str() == text)
    }

    /// Types whose networks carry a segmentation id.
    pub fn is_segmented(self) -> bool {
        matches!(
            self,
            NetworkType::Vlan | NetworkType::Vxlan | NetworkType::Geneve
        )
    }

    /// Types that live on a physical network.
    pub fn uses_physical_network(self) -> bool {
        matches!(self, NetworkType::Vlan | NetworkType::Flat)
    }

    /// Bytes of encapsulation overhead subtracted from the physical MTU.
    pub fn mtu_overhead(self) -> i64 {
        match self {
            NetworkType::Vxlan => 50,
            NetworkType::Geneve => 58,
            _ => 0,
        }
    }

    /// Largest valid segmentation id for the type.
    pub fn max_segmentation_id(self) -> i64 {
        match self {
            NetworkType::Vlan => 4094,
            NetworkType::Vxlan | NetworkType::Geneve => 16_777_215,
            NetworkType::Flat | NetworkType::Local => 0,
        }
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Network {
    pub id: NetworkId,
    pub project_id: ProjectId,
    pub name: String,
    pub description: String,
    pub admin_state_up: bool,
    pub status: NetworkStatus,
    pub shared: bool,
    pub mtu: i64,
    pub network_type: NetworkType,
    pub physical_network: Option<String>,
    pub segmentation_id: Option<i64>,
    /// `port-security`: the value a port created on this network without one inherits.
    pub port_security_enabled: bool,
    /// Ids of the network's subnets (read with the network; subnets name their network).
    pub subnets: Vec<String>,
    pub std: StandardAttrs,
}
