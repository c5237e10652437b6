//! What a guest must configure to use a trunk: its parent interface and one 802.1Q
//! sub-interface per subport, with their MACs, MTUs and static addresses (extension
//! `trunk-guest-config`, issue 20). Without it every user hand-writes the VLAN sub-interfaces
//! inside the guest from three API calls' worth of ports and subnets.
//!
//! [`build`] is pure: it takes what the service read in one transaction and gives a typed
//! [`GuestConfig`], or says which subport a guest cannot configure. The api layer renders the
//! value in one of the guest-side formats (OpenStack `network_data.json`, netplan).

use std::collections::HashMap;
use std::net::IpAddr;

use ipnet::IpNet;

use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
use crate::model::{Network, Port, SegmentationType, Subnet, Trunk};

/// The parent's interface name inside the guest; a VLAN's is `trunk0.<vlan id>` (at most 11
/// characters, under Linux's 15).
pub const PARENT_INTERFACE: &str = "trunk0";

/// A trunk as the guest configures it.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestConfig {
    pub trunk_id: TrunkId,
    pub parent: GuestInterface,
    /// One per subport, by VLAN ID.
    pub vlans: Vec<GuestVlan>,
    /// Every DNS server of the ports' subnets, each once, in the order first met.
    pub dns_nameservers: Vec<IpAddr>,
}

/// One interface: the parent's physical one or a VLAN sub-interface.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestInterface {
    /// Its name in the guest: [`PARENT_INTERFACE`] or `trunk0.<vlan id>`.
    pub name: String,
    pub port_id: PortId,
    pub network_id: NetworkId,
    pub mac_address: String,
    pub mtu: i64,
    pub addresses: Vec<GuestAddress>,
}

/// A subport as a VLAN sub-interface of the parent.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestVlan {
    pub vlan_id: u16,
    pub interface: GuestInterface,
}

/// One fixed IP of a port, with what its subnet tells the guest.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestAddress {
    pub address: IpAddr,
    pub subnet_id: SubnetId,
    /// The subnet's range (its prefix length is the address's).
    pub subnet: IpNet,
    /// The subnet's gateway as the default route: on the parent only, so a guest has one.
    pub default_gateway: Option<IpAddr>,
    /// The subnet's host routes.
    pub routes: Vec<GuestRoute>,
    pub dns_nameservers: Vec<IpAddr>,
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub struct GuestRoute {
    pub destination: IpNet,
    pub nexthop: IpAddr,
}

/// Why there is no guest configuration.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum GuestConfigError {
    /// A subport is carried by something other than a VLAN ID 1-4094: a guest cannot bring it
    /// up as an 802.1Q sub-interface.
    NotVlan {
        port_id: PortId,
        segmentation_type: String,
        segmentation_id: i64,
    },
    /// What was read does not fit together (a port or network missing, a stored address that
    /// does not parse): a fault of ours.
    Inconsistent(String),
}

impl std::fmt::Display for GuestConfigError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            GuestConfigError::NotVlan {
                port_id,
                segmentation_type,
                segmentation_id,
            } => write!(
                f,
                "Subport {port_id} uses segmentation_type {segmentation_type} \
                 {segmentation_id}; a guest can only configure VLAN IDs 1-4094 as 802.1Q \
                 sub-interfaces."
            ),
            GuestConfigError::Inconsistent(why) => f.write_str(why),
        }
    }
}

/// The ports, networks and subnets of one trunk, as read in one transaction.
pub struct TrunkNetworking<'a> {
    pub trunk: &'a Trunk,
    /// The parent and every subport port (others are ignored).
    pub ports: &'a [Port],
    /// The networks of those ports.
    pub networks: &'a [Network],
    /// The subnets of those networks.
    pub subnets: &'a [Subnet],
}

/// The guest configuration of `input.trunk`. Checks every subport before anything else, so the
/// answer names the first one (in the trunk's subport order) a guest cannot configure.
pub fn build(input: &TrunkNetworking<'_>) -> Result<GuestConfig, GuestConfigError> {
    let trunk = input.trunk;
    let mut vlan_ids = Vec::with_capacity(trunk.sub_ports.len());
    for subport in &trunk.sub_ports {
        vlan_ids.push((vlan_id_of(subport)?, subport.port_id));
    }
    vlan_ids.sort_unstable();

    let ports: HashMap<PortId, &Port> = input.ports.iter().map(|p| (p.id, p)).collect();
    let networks: HashMap<NetworkId, &Network> = input.networks.iter().map(|n| (n.id, n)).collect();
    let lookup = Lookup {
        ports: &ports,
        networks: &networks,
        subnets: input.subnets,
    };

    let parent = lookup.interface(trunk.port_id, PARENT_INTERFACE.to_string(), true)?;
    let mut vlans = Vec::with_capacity(vlan_ids.len());
    for (vlan_id, port_id) in vlan_ids {
        let name = format!("{PARENT_INTERFACE}.{vlan_id}");
        vlans.push(GuestVlan {
            vlan_id,
            interface: lookup.interface(port_id, name, false)?,
        });
    }

    let mut dns_nameservers = Vec::new();
    let every_address = std::iter::once(&parent)
        .chain(vlans.iter().map(|v| &v.interface))
        .flat_map(|i| &i.addresses);
    for server in every_address.flat_map(|a| &a.dns_nameservers) {
        if !dns_nameservers.contains(server) {
            dns_nameservers.push(*server);
        }
    }
    Ok(GuestConfig {
        trunk_id: trunk.id,
        parent,
        vlans,
        dns_nameservers,
    })
}

/// The 802.1Q tag of a subport: its own VLAN ID, or one inherited from a VLAN network (stored
/// as `vlan` once resolved).
fn vlan_id_of(subport: &crate::model::Subport) -> Result<u16, GuestConfigError> {
    let not_vlan = || GuestConfigError::NotVlan {
        port_id: subport.port_id,
        segmentation_type: subport.segmentation_type.as_str().to_string(),
        segmentation_id: subport.segmentation_id,
    };
    if subport.segmentation_type != SegmentationType::Vlan {
        return Err(not_vlan());
    }
    u16::try_from(subport.segmentation_id)
        .ok()
        .filter(|id| (1..=4094).contains(id))
        .ok_or_else(not_vlan)
}

struct Lookup<'a> {
    ports: &'a HashMap<PortId, &'a Port>,
    networks: &'a HashMap<NetworkId, &'a Network>,
    subnets: &'a [Subnet],
}

impl Lookup<'_> {
    fn interface(
        &self,
        port_id: PortId,
        name: String,
        is_parent: bool,
    ) -> Result<GuestInterface, GuestConfigError> {
        let port = self
            .ports
            .get(&port_id)
            .ok_or_else(|| inconsistent(format!("port {port_id} of the trunk was not read")))?;
        let network = self.networks.get(&port.network_id).ok_or_else(|| {
            inconsistent(format!(
                "network {} of port {port_id} was not read",
                port.network_id
            ))
        })?;
        let mut addresses = Vec::with_capacity(port.fixed_ips.len());
        for fixed in &port.fixed_ips {
            let address: IpAddr = fixed.ip_address.parse().map_err(|_| {
                inconsistent(format!(
                    "port {port_id} holds '{}', not an IP address",
                    fixed.ip_address
                ))
            })?;
            if let Some(subnet) = self.subnet_of(port, fixed.subnet_id.as_deref(), address) {
                addresses.push(guest_address(address, subnet, is_parent)?);
            }
        }
        Ok(GuestInterface {
            name,
            port_id,
            network_id: port.network_id,
            mac_address: port.mac_address.clone(),
            mtu: network.mtu,
            addresses,
        })
    }

    /// The subnet a fixed IP belongs to: the one it names, else the port's network's subnet
    /// whose range holds it.
    fn subnet_of(&self, port: &Port, named: Option<&str>, address: IpAddr) -> Option<&Subnet> {
        let on_network = || {
            self.subnets
                .iter()
                .filter(|s| s.network_id == port.network_id)
        };
        named
            .and_then(|id| on_network().find(|s| s.id.to_string() == id))
            .or_else(|| {
                on_network().find(|s| {
                    s.cidr
                        .parse::<IpNet>()
                        .is_ok_and(|net| net.contains(&address))
                })
            })
    }
}

fn guest_address(
    address: IpAddr,
    subnet: &Subnet,
    is_parent: bool,
) -> Result<GuestAddress, GuestConfigError> {
    let bad = |what: &str, text: &str| {
        inconsistent(format!("subnet {} holds {what} '{text}'", subnet.id))
    };
    let range: IpNet = subnet.cidr.parse().map_err(|_| bad("cidr", &subnet.cidr))?;
    let default_gateway = match (&subnet.gateway_ip, is_parent) {
        (Some(gateway), true) => Some(gateway.parse().map_err(|_| bad("gateway_ip", gateway))?),
        _ => None,
    };
    let mut routes = Vec::with_capacity(subnet.host_routes.len());
    for route in &subnet.host_routes {
        routes.push(GuestRoute {
            destination: route
                .destination
                .parse()
                .map_err(|_| bad("host route", &route.destination))?,
            nexthop: route
                .nexthop
                .parse()
                .map_err(|_| bad("host route", &route.nexthop))?,
        });
    }
    let mut dns_nameservers = Vec::with_capacity(subnet.dns_nameservers.len());
    for server in &subnet.dns_nameservers {
        dns_nameservers.push(server.parse().map_err(|_| bad("dns_nameserver", server))?);
    }
    Ok(GuestAddress {
        address,
        subnet_id: subnet.id,
        subnet: range,
        default_gateway,
        routes,
        dns_nameservers,
    })
}

fn inconsistent(why: String) -> GuestConfigError {
    GuestConfigError::Inconsistent(why)
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::ProjectId;
    use crate::model::health::ParentState;
    use crate::model::{
        FixedIp, HostRoute, NetworkStatus, NetworkType, PortStatus, StandardAttrs, Subport,
        TrunkStatus,
    };

    fn network(mtu: i64) -> Network {
        Network {
            id: NetworkId::new(),
            project_id: ProjectId::new("p1"),
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            status: NetworkStatus::Active,
            shared: false,
            mtu,
            network_type: NetworkType::Vxlan,
            physical_network: None,
            segmentation_id: Some(1),
            port_security_enabled: true,
            subnets: Vec::new(),
            std: StandardAttrs::fresh(),
        }
    }

    fn subnet(network: &Network, cidr: &str, gateway: Option<&str>, dns: &[&str]) -> Subnet {
        Subnet {
            id: SubnetId::new(),
            project_id: ProjectId::new("p1"),
            network_id: network.id,
            name: String::new(),
            description: String::new(),
            ip_version: if cidr.contains(':') { 6 } else { 4 },
            cidr: cidr.to_string(),
            gateway_ip: gateway.map(str::to_string),
            allocation_pools: Vec::new(),
            enable_dhcp: true,
            dns_nameservers: dns.iter().map(|s| s.to_string()).collect(),
            host_routes: Vec::new(),
            ipv6_address_mode: None,
            ipv6_ra_mode: None,
            network_shared: false,
            std: StandardAttrs::fresh(),
        }
    }

    fn port(network: &Network, mac: &str, ips: &[(&Subnet, &str)]) -> Port {
        Port {
            id: PortId::new(),
            project_id: ProjectId::new("p1"),
            network_id: network.id,
            name: String::new(),
            description: String::new(),
            mac_address: mac.to_string(),
            admin_state_up: true,
            status: PortStatus::Active,
            device_id: String::new(),
            device_owner: String::new(),
            fixed_ips: ips
                .iter()
                .map(|(s, ip)| FixedIp {
                    subnet_id: Some(s.id.to_string()),
                    ip_address: ip.to_string(),
                })
                .collect(),
            host_id: String::new(),
            vif_type: String::new(),
            vnic_type: "normal".into(),
            profile: serde_json::Map::new(),
            port_security_enabled: true,
            std: StandardAttrs::fresh(),
        }
    }

    fn trunk(parent: &Port, subports: &[(&Port, SegmentationType, i64)]) -> Trunk {
        Trunk {
            id: TrunkId::new(),
            project_id: ProjectId::new("p1"),
            port_id: parent.id,
            name: String::new(),
            description: String::new(),
            admin_state_up: true,
            status: TrunkStatus::Active,
            refusal: None,
            parent_state: ParentState {
                status: PortStatus::Active,
                bound: false,
            },
            sub_ports: subports
                .iter()
                .map(|(p, t, id)| Subport {
                    port_id: p.id,
                    segmentation_type: t.clone(),
                    segmentation_id: *id,
                    port_status: PortStatus::Active,
                })
                .collect(),
            std: StandardAttrs::fresh(),
        }
    }

    fn ip(text: &str) -> IpAddr {
        text.parse().expect("an address")
    }

    #[test]
    fn parent_and_vlans_in_vlan_order_with_the_default_route_on_the_parent_only() {
        let outer = network(1500);
        let inner = network(1450);
        let mut outer_v4 = subnet(&outer, "10.0.0.0/24", Some("10.0.0.1"), &["10.0.0.2"]);
        outer_v4.host_routes.push(HostRoute {
            destination: "192.168.0.0/16".into(),
            nexthop: "10.0.0.254".into(),
        });
        let inner_v4 = subnet(
            &inner,
            "10.1.0.0/24",
            Some("10.1.0.1"),
            &["10.0.0.2", "9.9.9.9"],
        );
        let inner_v6 = subnet(&inner, "fd00:1::/64", Some("fd00:1::1"), &[]);
        let parent = port(&outer, "fa:16:3e:00:00:01", &[(&outer_v4, "10.0.0.5")]);
        let high = port(&inner, "fa:16:3e:00:00:02", &[(&inner_v4, "10.1.0.7")]);
        let low = port(
            &inner,
            "fa:16:3e:00:00:03",
            &[(&inner_v4, "10.1.0.8"), (&inner_v6, "fd00:1::8")],
        );
        let trunk = trunk(
            &parent,
            &[
                (&high, SegmentationType::Vlan, 300),
                (&low, SegmentationType::Vlan, 20),
            ],
        );
        let config = build(&TrunkNetworking {
            trunk: &trunk,
            ports: &[parent.clone(), high.clone(), low.clone()],
            networks: &[outer.clone(), inner.clone()],
            subnets: &[outer_v4.clone(), inner_v4.clone(), inner_v6.clone()],
        })
        .expect("a configuration");

        assert_eq!(config.trunk_id, trunk.id);
        assert_eq!(config.parent.name, "trunk0");
        assert_eq!(config.parent.mac_address, "fa:16:3e:00:00:01");
        assert_eq!(config.parent.mtu, 1500);
        let parent_ip = &config.parent.addresses[0];
        assert_eq!(parent_ip.address, ip("10.0.0.5"));
        assert_eq!(parent_ip.subnet.prefix_len(), 24);
        assert_eq!(parent_ip.default_gateway, Some(ip("10.0.0.1")));
        assert_eq!(parent_ip.routes.len(), 1);

        let ids: Vec<u16> = config.vlans.iter().map(|v| v.vlan_id).collect();
        assert_eq!(ids, [20, 300]);
        let names: Vec<&str> = config
            .vlans
            .iter()
            .map(|v| v.interface.name.as_str())
            .collect();
        assert_eq!(names, ["trunk0.20", "trunk0.300"]);
        let low_vlan = &config.vlans[0].interface;
        assert_eq!(low_vlan.port_id, low.id);
        assert_eq!(low_vlan.mtu, 1450);
        assert_eq!(low_vlan.addresses.len(), 2);
        assert!(low_vlan
            .addresses
            .iter()
            .all(|a| a.default_gateway.is_none()));
        assert_eq!(low_vlan.addresses[1].address, ip("fd00:1::8"));
        assert_eq!(low_vlan.addresses[1].subnet_id, inner_v6.id);

        assert_eq!(config.dns_nameservers, [ip("10.0.0.2"), ip("9.9.9.9")]);
    }

    #[test]
    fn a_fixed_ip_without_a_subnet_id_is_matched_by_range() {
        let net = network(1500);
        let v4 = subnet(&net, "10.0.0.0/24", None, &[]);
        let mut parent = port(&net, "fa:16:3e:00:00:01", &[(&v4, "10.0.0.9")]);
        parent.fixed_ips[0].subnet_id = None;
        let trunk = trunk(&parent, &[]);
        let config = build(&TrunkNetworking {
            trunk: &trunk,
            ports: std::slice::from_ref(&parent),
            networks: std::slice::from_ref(&net),
            subnets: std::slice::from_ref(&v4),
        })
        .expect("a configuration");
        assert_eq!(config.parent.addresses[0].subnet_id, v4.id);
        assert_eq!(config.parent.addresses[0].default_gateway, None);
        assert!(config.vlans.is_empty());
    }

    #[test]
    fn a_subport_that_is_not_a_vlan_is_named() {
        let net = network(1500);
        let parent = port(&net, "fa:16:3e:00:00:01", &[]);
        let vlan = port(&net, "fa:16:3e:00:00:02", &[]);
        let tunnel = port(&net, "fa:16:3e:00:00:03", &[]);
        let trunk = trunk(
            &parent,
            &[
                (&vlan, SegmentationType::Vlan, 10),
                (&tunnel, SegmentationType::Other("vxlan".into()), 5000),
            ],
        );
        let error = build(&TrunkNetworking {
            trunk: &trunk,
            ports: &[parent, vlan, tunnel.clone()],
            networks: &[net],
            subnets: &[],
        })
        .expect_err("vxlan is not a VLAN");
        assert_eq!(
            error,
            GuestConfigError::NotVlan {
                port_id: tunnel.id,
                segmentation_type: "vxlan".into(),
                segmentation_id: 5000,
            }
        );
        assert!(error.to_string().contains(&tunnel.id.to_string()));
        assert!(error.to_string().contains("vxlan"));
    }

    #[test]
    fn a_vlan_id_out_of_range_is_not_configurable() {
        let net = network(1500);
        let parent = port(&net, "fa:16:3e:00:00:01", &[]);
        let sub = port(&net, "fa:16:3e:00:00:02", &[]);
        for id in [0, 4095, -1] {
            let trunk = trunk(&parent, &[(&sub, SegmentationType::Vlan, id)]);
            let result = build(&TrunkNetworking {
                trunk: &trunk,
                ports: &[parent.clone(), sub.clone()],
                networks: std::slice::from_ref(&net),
                subnets: &[],
            });
            assert!(
                matches!(result, Err(GuestConfigError::NotVlan { .. })),
                "{id}"
            );
        }
    }

    #[test]
    fn a_missing_port_is_inconsistent_not_a_panic() {
        let net = network(1500);
        let parent = port(&net, "fa:16:3e:00:00:01", &[]);
        let sub = port(&net, "fa:16:3e:00:00:02", &[]);
        let trunk = trunk(&parent, &[(&sub, SegmentationType::Vlan, 7)]);
        let result = build(&TrunkNetworking {
            trunk: &trunk,
            ports: std::slice::from_ref(&parent),
            networks: std::slice::from_ref(&net),
            subnets: &[],
        });
        assert!(matches!(result, Err(GuestConfigError::Inconsistent(_))));
    }
}
