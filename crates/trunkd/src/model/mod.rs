//! Domain types shared by every layer: what a network, subnet, port and trunk are, independent of
//! HTTP and SQL.

pub mod attrs;
pub mod guest;
pub mod health;
pub mod network;
pub mod port;
pub mod status;
pub mod subnet;
pub mod trunk;

pub use network::{Network, NetworkType};
pub use port::{FixedIp, Port};
pub use status::{NetworkStatus, PortStatus, TrunkStatus};
pub use subnet::{AllocationPool, HostRoute, Ipv6Mode, Subnet};
pub use trunk::{SegmentationType, Subport, Trunk};

/// A time as Neutron renders timestamps: ISO 8601, UTC, whole seconds, `Z`.
pub fn timestamp(at: chrono::DateTime<chrono::Utc>) -> String {
    at.format("%Y-%m-%dT%H:%M:%SZ").to_string()
}

/// The current time as a Neutron timestamp.
pub fn now_timestamp() -> String {
    timestamp(chrono::Utc::now())
}

/// Attributes every Neutron resource carries (the "standard attributes").
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StandardAttrs {
    pub revision_number: i64,
    pub created_at: String,
    pub updated_at: String,
    pub tags: Vec<String>,
}

impl StandardAttrs {
    /// Attributes of a resource created now.
    pub fn fresh() -> Self {
        let now = now_timestamp();
        Self {
            revision_number: 0,
            created_at: now.clone(),
            updated_at: now,
            tags: Vec::new(),
        }
    }
}
