//! A [`GuestConfig`] in the shape of OpenStack's metadata `network_data.json` (the file the
//! metadata service and config drive hand to cloud-init and similar agents): `links`, one per
//! interface, `networks`, one per fixed IP, and `services`, the DNS servers. Field names and
//! value forms follow the OpenStack metadata format: a netmask is dotted for IPv4 and a prefix
//! length for IPv6, a route names its destination as `network` and `netmask`, and a network's
//! `id` is `network<N>`.

use std::net::IpAddr;

use ipnet::IpNet;
use serde::Serialize;
use utoipa::ToSchema;

use crate::model::guest::{GuestAddress, GuestConfig, GuestInterface};

/// `network_data.json`.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkData {
    pub links: Vec<NetworkDataLink>,
    pub networks: Vec<NetworkDataNetwork>,
    pub services: Vec<NetworkDataService>,
}

/// A link: the parent's physical interface or a subport's VLAN on it.
#[derive(Debug, Serialize, ToSchema)]
#[serde(tag = "type", rename_all = "lowercase")]
pub enum NetworkDataLink {
    Phy {
        /// The interface name the other entries refer to (`trunk0`).
        id: String,
        ethernet_mac_address: String,
        mtu: i64,
        /// The port's id.
        vif_id: String,
    },
    Vlan {
        /// `trunk0.<vlan_id>`.
        id: String,
        vlan_id: u16,
        /// The parent link's `id`.
        vlan_link: String,
        vlan_mac_address: String,
        mtu: i64,
        /// The subport's port id.
        vif_id: String,
    },
}

/// A static address on a link.
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkDataNetwork {
    /// `network<N>`, counting from 0 over the whole document.
    pub id: String,
    #[serde(rename = "type")]
    pub kind: NetworkDataType,
    /// The link's `id`.
    pub link: String,
    pub ip_address: String,
    pub netmask: NetworkDataNetmask,
    pub routes: Vec<NetworkDataRoute>,
    pub network_id: String,
    pub services: Vec<NetworkDataService>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, ToSchema)]
#[serde(rename_all = "lowercase")]
pub enum NetworkDataType {
    Ipv4,
    Ipv6,
}

/// `255.255.255.0` for IPv4, the prefix length (`64`) for IPv6, as OpenStack writes them.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
#[serde(untagged)]
pub enum NetworkDataNetmask {
    Dotted(String),
    PrefixLength(u8),
}

/// A route: `network`/`netmask` is the destination (`0.0.0.0`/`0.0.0.0`: the default route).
#[derive(Debug, Serialize, ToSchema)]
pub struct NetworkDataRoute {
    pub network: String,
    pub netmask: String,
    pub gateway: String,
}

/// A service the guest uses; trunkd knows DNS servers.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, ToSchema)]
pub struct NetworkDataService {
    /// Always `dns`.
    #[serde(rename = "type")]
    pub kind: String,
    pub address: String,
}

impl NetworkData {
    pub fn of(config: &GuestConfig) -> Self {
        let parent = &config.parent;
        let mut links = vec![NetworkDataLink::Phy {
            id: parent.name.clone(),
            ethernet_mac_address: parent.mac_address.clone(),
            mtu: parent.mtu,
            vif_id: parent.port_id.to_string(),
        }];
        links.extend(config.vlans.iter().map(|vlan| NetworkDataLink::Vlan {
            id: vlan.interface.name.clone(),
            vlan_id: vlan.vlan_id,
            vlan_link: parent.name.clone(),
            vlan_mac_address: vlan.interface.mac_address.clone(),
            mtu: vlan.interface.mtu,
            vif_id: vlan.interface.port_id.to_string(),
        }));
        let interfaces =
            std::iter::once(parent).chain(config.vlans.iter().map(|vlan| &vlan.interface));
        let networks = interfaces
            .flat_map(|interface| interface.addresses.iter().map(move |a| (interface, a)))
            .enumerate()
            .map(|(index, (interface, address))| network_entry(index, interface, address))
            .collect();
        NetworkData {
            links,
            networks,
            services: dns(&config.dns_nameservers),
        }
    }
}

fn network_entry(
    index: usize,
    interface: &GuestInterface,
    address: &GuestAddress,
) -> NetworkDataNetwork {
    let (kind, netmask) = match address.subnet {
        IpNet::V4(net) => (
            NetworkDataType::Ipv4,
            NetworkDataNetmask::Dotted(net.netmask().to_string()),
        ),
        IpNet::V6(net) => (
            NetworkDataType::Ipv6,
            NetworkDataNetmask::PrefixLength(net.prefix_len()),
        ),
    };
    let default = address.default_gateway.map(|gateway| {
        let any = match gateway {
            IpAddr::V4(_) => "0.0.0.0",
            IpAddr::V6(_) => "::",
        };
        NetworkDataRoute {
            network: any.to_string(),
            netmask: any.to_string(),
            gateway: gateway.to_string(),
        }
    });
    let routes = default
        .into_iter()
        .chain(address.routes.iter().map(|route| NetworkDataRoute {
            network: route.destination.network().to_string(),
            netmask: route.destination.netmask().to_string(),
            gateway: route.nexthop.to_string(),
        }))
        .collect();
    NetworkDataNetwork {
        id: format!("network{index}"),
        kind,
        link: interface.name.clone(),
        ip_address: address.address.to_string(),
        netmask,
        routes,
        network_id: interface.network_id.to_string(),
        services: dns(&address.dns_nameservers),
    }
}

fn dns(servers: &[IpAddr]) -> Vec<NetworkDataService> {
    servers
        .iter()
        .map(|server| NetworkDataService {
            kind: "dns".to_string(),
            address: server.to_string(),
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use serde_json::json;

    use super::*;
    use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
    use crate::model::guest::{GuestRoute, GuestVlan};

    fn config() -> GuestConfig {
        let network = NetworkId::new();
        let address = |ip: &str, net: &str, gateway: Option<&str>| GuestAddress {
            address: ip.parse().expect("ip"),
            subnet_id: SubnetId::new(),
            subnet: net.parse().expect("net"),
            default_gateway: gateway.map(|g| g.parse().expect("gateway")),
            routes: Vec::new(),
            dns_nameservers: vec!["10.0.0.2".parse().expect("dns")],
        };
        let mut parent_v4 = address("10.0.0.5", "10.0.0.0/24", Some("10.0.0.1"));
        parent_v4.routes.push(GuestRoute {
            destination: "192.168.0.0/16".parse().expect("net"),
            nexthop: "10.0.0.254".parse().expect("ip"),
        });
        GuestConfig {
            trunk_id: TrunkId::new(),
            parent: GuestInterface {
                name: "trunk0".into(),
                port_id: PortId::new(),
                network_id: network,
                mac_address: "fa:16:3e:00:00:01".into(),
                mtu: 1500,
                addresses: vec![parent_v4, address("fd00::5", "fd00::/64", Some("fd00::1"))],
            },
            vlans: vec![GuestVlan {
                vlan_id: 101,
                interface: GuestInterface {
                    name: "trunk0.101".into(),
                    port_id: PortId::new(),
                    network_id: network,
                    mac_address: "fa:16:3e:00:00:02".into(),
                    mtu: 1450,
                    addresses: vec![address("10.1.0.5", "10.1.0.0/24", None)],
                },
            }],
            dns_nameservers: vec!["10.0.0.2".parse().expect("dns")],
        }
    }

    #[test]
    fn links_networks_and_services_in_openstack_form() {
        let config = config();
        let value = serde_json::to_value(NetworkData::of(&config)).expect("json");
        assert_eq!(
            value["links"],
            json!([
                {"type": "phy", "id": "trunk0", "ethernet_mac_address": "fa:16:3e:00:00:01",
                 "mtu": 1500, "vif_id": config.parent.port_id.to_string()},
                {"type": "vlan", "id": "trunk0.101", "vlan_id": 101, "vlan_link": "trunk0",
                 "vlan_mac_address": "fa:16:3e:00:00:02", "mtu": 1450,
                 "vif_id": config.vlans[0].interface.port_id.to_string()},
            ])
        );
        let networks = value["networks"].as_array().expect("networks");
        assert_eq!(networks.len(), 3);
        assert_eq!(networks[0]["id"], "network0");
        assert_eq!(networks[0]["type"], "ipv4");
        assert_eq!(networks[0]["link"], "trunk0");
        assert_eq!(networks[0]["netmask"], "255.255.255.0");
        assert_eq!(
            networks[0]["routes"],
            json!([
                {"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.0.0.1"},
                {"network": "192.168.0.0", "netmask": "255.255.0.0", "gateway": "10.0.0.254"},
            ])
        );
        assert_eq!(
            networks[0]["services"],
            json!([{"type": "dns", "address": "10.0.0.2"}])
        );
        assert_eq!(networks[1]["type"], "ipv6");
        assert_eq!(networks[1]["netmask"], 64);
        assert_eq!(
            networks[1]["routes"],
            json!([{"network": "::", "netmask": "::", "gateway": "fd00::1"}])
        );
        assert_eq!(networks[2]["id"], "network2");
        assert_eq!(networks[2]["link"], "trunk0.101");
        assert_eq!(
            networks[2]["routes"],
            json!([]),
            "no default route on a VLAN"
        );
        assert_eq!(
            value["services"],
            json!([{"type": "dns", "address": "10.0.0.2"}])
        );
    }
}
