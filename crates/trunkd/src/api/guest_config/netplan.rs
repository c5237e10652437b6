//! A [`GuestConfig`] as a netplan (version 2) document, for guests that configure their
//! network with netplan: the parent under `ethernets`, matched by MAC and renamed to `trunk0`,
//! and each subport under `vlans` on it. Built as typed values and written by serde_yaml_ng,
//! so every name and address is quoted as YAML needs.

use std::net::IpAddr;

use serde::ser::SerializeMap;
use serde::{Serialize, Serializer};

use crate::model::guest::{GuestAddress, GuestConfig, GuestInterface};

/// The whole file: `network: {version: 2, ...}`.
#[derive(Debug, Serialize)]
pub struct Document {
    pub network: Network,
}

#[derive(Debug, Serialize)]
pub struct Network {
    pub version: u8,
    pub ethernets: Named<Ethernet>,
    #[serde(skip_serializing_if = "Named::is_empty")]
    pub vlans: Named<Vlan>,
}

/// A YAML mapping from interface names, in the order given (the parent, then VLANs by ID).
#[derive(Debug)]
pub struct Named<T>(pub Vec<(String, T)>);

impl<T> Named<T> {
    fn is_empty(&self) -> bool {
        self.0.is_empty()
    }
}

impl<T: Serialize> Serialize for Named<T> {
    fn serialize<S: Serializer>(&self, serializer: S) -> Result<S::Ok, S::Error> {
        let mut map = serializer.serialize_map(Some(self.0.len()))?;
        for (name, value) in &self.0 {
            map.serialize_entry(name, value)?;
        }
        map.end()
    }
}

#[derive(Debug, Serialize)]
pub struct Ethernet {
    #[serde(rename = "match")]
    pub match_: Match,
    #[serde(rename = "set-name")]
    pub set_name: String,
    #[serde(flatten)]
    pub settings: Settings,
}

#[derive(Debug, Serialize)]
pub struct Match {
    pub macaddress: String,
}

#[derive(Debug, Serialize)]
pub struct Vlan {
    pub id: u16,
    pub link: String,
    pub macaddress: String,
    #[serde(flatten)]
    pub settings: Settings,
}

/// What parent and VLANs share: static addresses only, no DHCP.
#[derive(Debug, Serialize)]
pub struct Settings {
    pub mtu: i64,
    pub dhcp4: bool,
    pub dhcp6: bool,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub addresses: Vec<String>,
    #[serde(skip_serializing_if = "Vec::is_empty")]
    pub routes: Vec<Route>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub nameservers: Option<Nameservers>,
}

#[derive(Debug, Serialize)]
pub struct Route {
    /// `default` or a CIDR.
    pub to: String,
    pub via: String,
}

#[derive(Debug, Serialize)]
pub struct Nameservers {
    pub addresses: Vec<String>,
}

impl Document {
    pub fn of(config: &GuestConfig) -> Self {
        let parent = &config.parent;
        let ethernet = Ethernet {
            match_: Match {
                macaddress: parent.mac_address.clone(),
            },
            set_name: parent.name.clone(),
            settings: settings(parent),
        };
        let vlans = config
            .vlans
            .iter()
            .map(|vlan| {
                let value = Vlan {
                    id: vlan.vlan_id,
                    link: parent.name.clone(),
                    macaddress: vlan.interface.mac_address.clone(),
                    settings: settings(&vlan.interface),
                };
                (vlan.interface.name.clone(), value)
            })
            .collect();
        Document {
            network: Network {
                version: 2,
                ethernets: Named(vec![(parent.name.clone(), ethernet)]),
                vlans: Named(vlans),
            },
        }
    }

    /// The document as YAML text.
    pub fn to_yaml(&self) -> Result<String, serde_yaml_ng::Error> {
        serde_yaml_ng::to_string(self)
    }
}

fn settings(interface: &GuestInterface) -> Settings {
    let addresses = &interface.addresses;
    let routes = addresses.iter().flat_map(routes_of).collect();
    let mut servers: Vec<String> = Vec::new();
    for server in addresses.iter().flat_map(|a| &a.dns_nameservers) {
        let text = server.to_string();
        if !servers.contains(&text) {
            servers.push(text);
        }
    }
    Settings {
        mtu: interface.mtu,
        dhcp4: false,
        dhcp6: false,
        addresses: addresses
            .iter()
            .map(|a| format!("{}/{}", a.address, a.subnet.prefix_len()))
            .collect(),
        routes,
        nameservers: (!servers.is_empty()).then_some(Nameservers { addresses: servers }),
    }
}

fn routes_of(address: &GuestAddress) -> Vec<Route> {
    let default = address.default_gateway.map(|gateway: IpAddr| Route {
        to: "default".to_string(),
        via: gateway.to_string(),
    });
    default
        .into_iter()
        .chain(address.routes.iter().map(|route| Route {
            to: route.destination.to_string(),
            via: route.nexthop.to_string(),
        }))
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::ids::{NetworkId, PortId, SubnetId, TrunkId};
    use crate::model::guest::GuestVlan;

    #[test]
    fn parent_under_ethernets_and_vlans_by_id() {
        let interface =
            |name: &str, mac: &str, ip: &str, net: &str, gateway: Option<&str>| GuestInterface {
                name: name.into(),
                port_id: PortId::new(),
                network_id: NetworkId::new(),
                mac_address: mac.into(),
                mtu: 1500,
                addresses: vec![GuestAddress {
                    address: ip.parse().expect("ip"),
                    subnet_id: SubnetId::new(),
                    subnet: net.parse().expect("net"),
                    default_gateway: gateway.map(|g| g.parse().expect("gateway")),
                    routes: Vec::new(),
                    dns_nameservers: vec!["10.0.0.2".parse().expect("dns")],
                }],
            };
        let config = GuestConfig {
            trunk_id: TrunkId::new(),
            parent: interface(
                "trunk0",
                "fa:16:3e:00:00:01",
                "10.0.0.5",
                "10.0.0.0/24",
                Some("10.0.0.1"),
            ),
            vlans: vec![
                GuestVlan {
                    vlan_id: 7,
                    interface: interface(
                        "trunk0.7",
                        "fa:16:3e:00:00:02",
                        "10.1.0.5",
                        "10.1.0.0/24",
                        None,
                    ),
                },
                GuestVlan {
                    vlan_id: 4094,
                    interface: interface(
                        "trunk0.4094",
                        "fa:16:3e:00:00:03",
                        "fd00::5",
                        "fd00::/64",
                        None,
                    ),
                },
            ],
            dns_nameservers: Vec::new(),
        };
        let text = Document::of(&config).to_yaml().expect("yaml");
        let parsed: serde_json::Value = serde_yaml_ng::from_str(&text).expect("parses back");
        let network = &parsed["network"];
        assert_eq!(network["version"], 2);
        let parent = &network["ethernets"]["trunk0"];
        assert_eq!(parent["match"]["macaddress"], "fa:16:3e:00:00:01");
        assert_eq!(parent["set-name"], "trunk0");
        assert_eq!(parent["addresses"][0], "10.0.0.5/24");
        assert_eq!(parent["routes"][0]["to"], "default");
        assert_eq!(parent["routes"][0]["via"], "10.0.0.1");
        assert_eq!(parent["nameservers"]["addresses"][0], "10.0.0.2");
        let vlans = network["vlans"].as_object().expect("vlans");
        assert_eq!(vlans.len(), 2);
        let low = text.find("trunk0.7:").expect("trunk0.7");
        let high = text.find("trunk0.4094:").expect("trunk0.4094");
        assert!(low < high, "VLANs in ID order: {text}");
        let high = &vlans["trunk0.4094"];
        assert_eq!(high["id"], 4094);
        assert_eq!(high["link"], "trunk0");
        assert_eq!(high["macaddress"], "fa:16:3e:00:00:03");
        assert_eq!(high["addresses"][0], "fd00::5/64");
        assert!(high.get("routes").is_none(), "no default route on a VLAN");
        assert!(vlans.keys().all(|name| name.len() <= 15));
    }
}
