//! Subnets: an address range of a network, with Neutron's attributes (issue 18). Addresses are
//! kept as the text Neutron answers with; the service validates and normalises them on the way
//! in, so what is stored always parses.

use serde::{Deserialize, Serialize};

use crate::ids::{NetworkId, ProjectId, SubnetId};
use crate::model::StandardAttrs;

/// One range of addresses the subnet hands out, both ends included.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct AllocationPool {
    pub start: String,
    pub end: String,
}

/// A static route handed to the subnet's hosts.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct HostRoute {
    pub destination: String,
    pub nexthop: String,
}

/// `ipv6_address_mode` and `ipv6_ra_mode` values.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ipv6Mode {
    Slaac,
    Dhcpv6Stateful,
    Dhcpv6Stateless,
}

impl Ipv6Mode {
    pub const ALL: [Ipv6Mode; 3] = [
        Ipv6Mode::Slaac,
        Ipv6Mode::Dhcpv6Stateful,
        Ipv6Mode::Dhcpv6Stateless,
    ];

    pub fn as_str(self) -> &'static str {
        match self {
            Ipv6Mode::Slaac => "slaac",
            Ipv6Mode::Dhcpv6Stateful => "dhcpv6-stateful",
            Ipv6Mode::Dhcpv6Stateless => "dhcpv6-stateless",
        }
    }

    pub fn parse(text: &str) -> Option<Self> {
        Self::ALL.into_iter().find(|m| m.as_str() == text)
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct Subnet {
    pub id: SubnetId,
    pub project_id: ProjectId,
    pub network_id: NetworkId,
    pub name: String,
    pub description: String,
    /// 4 or 6.
    pub ip_version: i64,
    /// Normalised: the network address and the prefix length (`10.1.0.0/24`).
    pub cidr: String,
    pub gateway_ip: Option<String>,
    pub allocation_pools: Vec<AllocationPool>,
    pub enable_dhcp: bool,
    pub dns_nameservers: Vec<String>,
    pub host_routes: Vec<HostRoute>,
    pub ipv6_address_mode: Option<Ipv6Mode>,
    pub ipv6_ra_mode: Option<Ipv6Mode>,
    /// Whether the subnet's network is shared (read with the subnet, not stored on it): who
    /// may see the subnet depends on it.
    pub network_shared: bool,
    pub std: StandardAttrs,
}
