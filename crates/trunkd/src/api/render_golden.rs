//! Pins the bytes of every response shape of networks, ports and trunks (show, `fields=`,
//! attributes policy hides, list pages with links, single and bulk create, the subport calls)
//! on fixed resources. `testdata/render_golden.txt` was first recorded from the `json!`-built
//! renderers the typed response structs replaced (the typed ones differ only in the key order
//! of the trunk show, update and subport answers, now sorted like every other); re-record after an intended change with
//! `TRUNKD_UPDATE_GOLDEN=1 cargo test --lib render_golden` and review the diff.

use super::list;
use super::wire::network::{NetworkList, NetworkResponse, NetworksCreated};
use super::wire::port::{PortList, PortResponse, PortsCreated};
use super::wire::trunk::{
    Subports, SubportsResponse, Trunk as TrunkWire, TrunkList, TrunkResponse, TrunksCreated,
};
use super::wire::{Items, Render};
use crate::model::attrs::{NETWORK_ATTRS, PORT_ATTRS, TRUNK_ATTRS};
use crate::model::{
    FixedIp, Network, NetworkType, Port, PortStatus, SegmentationType, StandardAttrs, Subport,
    Trunk, TrunkStatus,
};
use crate::service::{ListRules, PortView, Shown, TrunkDetails};

const GOLDEN: &str = concat!(
    env!("CARGO_MANIFEST_DIR"),
    "/src/api/testdata/render_golden.txt"
);

fn id<T: std::str::FromStr>(n: u8) -> T {
    match format!("00000000-0000-4000-8000-0000000000{n:02x}").parse() {
        Ok(id) => id,
        Err(_) => panic!("test id"),
    }
}

fn std_attrs(tags: &[&str]) -> StandardAttrs {
    StandardAttrs {
        revision_number: 3,
        created_at: "2026-11-25T10:00:00Z".into(),
        updated_at: "2026-11-25T10:00:05Z".into(),
        tags: tags.iter().map(|t| t.to_string()).collect(),
    }
}

fn network(n: u8, hidden: Vec<&'static str>) -> Shown<Network> {
    Shown {
        item: Network {
            id: id(n),
            project_id: crate::ids::ProjectId::new("p1"),
            name: format!("net-\"{n}\""),
            description: "d".into(),
            admin_state_up: true,
            status: crate::model::NetworkStatus::Active,
            shared: n % 2 == 0,
            mtu: 1500,
            network_type: if n % 2 == 0 {
                NetworkType::Vlan
            } else {
                NetworkType::Vxlan
            },
            physical_network: (n % 2 == 0).then(|| "physnet1".into()),
            segmentation_id: (n % 3 != 0).then_some(100 + i64::from(n)),
            port_security_enabled: n % 2 == 1,
            subnets: Vec::new(),
            std: std_attrs(&["b", "a"]),
        },
        hidden,
    }
}

fn port(n: u8, details: bool, hidden: Vec<&'static str>) -> PortView {
    let mut profile = serde_json::Map::new();
    profile.insert("z".into(), serde_json::json!([1, {"y": null}]));
    profile.insert("a".into(), serde_json::json!("b"));
    PortView {
        port: Port {
            id: id(n),
            project_id: crate::ids::ProjectId::new("p1"),
            network_id: id(1),
            name: "port".into(),
            description: "".into(),
            mac_address: "fa:16:3e:00:00:01".into(),
            admin_state_up: false,
            status: crate::model::PortStatus::Down,
            device_id: "dev".into(),
            device_owner: "compute:nova".into(),
            fixed_ips: vec![
                FixedIp {
                    subnet_id: None,
                    ip_address: "10.0.0.5".into(),
                },
                FixedIp {
                    subnet_id: Some("s1".into()),
                    ip_address: "fd00::5".into(),
                },
            ],
            host_id: "host-1".into(),
            vif_type: "ovs".into(),
            vnic_type: "normal".into(),
            profile,
            port_security_enabled: true,
            std: std_attrs(&[]),
        },
        trunk_details: details.then(|| TrunkDetails {
            trunk_id: id(90),
            sub_ports: vec![
                (subport(20, 101), "fa:16:3e:00:00:14".into()),
                (subport(21, 102), "fa:16:3e:00:00:15".into()),
            ],
        }),
        hidden,
    }
}

fn subport(n: u8, segmentation_id: i64) -> Subport {
    Subport {
        port_id: id(n),
        segmentation_type: SegmentationType::Vlan,
        segmentation_id,
        port_status: PortStatus::Active,
    }
}

/// A trunk whose third subport, if any, is DOWN (so DEGRADED, with reasons).
fn trunk(n: u8, subports: usize) -> Trunk {
    let mut trunk = Trunk {
        id: id(n),
        project_id: crate::ids::ProjectId::new("p1"),
        port_id: id(10),
        name: "trunk".into(),
        description: "tr".into(),
        admin_state_up: true,
        status: TrunkStatus::Active,
        refusal: None,
        parent_state: crate::model::health::ParentState {
            status: PortStatus::Active,
            bound: true,
        },
        sub_ports: (0..subports)
            .map(|i| Subport {
                port_id: id(30 + i as u8),
                segmentation_type: if i == 1 {
                    SegmentationType::Other("vxlan".into())
                } else {
                    SegmentationType::Vlan
                },
                segmentation_id: 200 + i as i64,
                port_status: if i == 2 {
                    PortStatus::Down
                } else {
                    PortStatus::Active
                },
            })
            .collect(),
        std: std_attrs(&["t"]),
    };
    trunk.rederive_status();
    trunk
}

async fn bytes(response: axum::response::Response) -> String {
    let status = response.status();
    let body = axum::body::to_bytes(response.into_body(), usize::MAX)
        .await
        .map(|b| String::from_utf8_lossy(&b).into_owned())
        .unwrap_or_default();
    format!("{} {body}", status.as_u16())
}

fn json_bytes<T: serde::Serialize>(value: &T) -> String {
    serde_json::to_string(value).unwrap_or_default()
}

/// Each response shape, as the handlers build them, with a label.
async fn shapes() -> Vec<(String, String)> {
    let mut out = Vec::new();
    let wanted = |q: &str| super::show_wanted(Some(q));
    let rules = ListRules::default();
    // Networks.
    let nets = vec![network(1, vec![]), network(2, vec![]), network(3, vec![])];
    out.push((
        "network show".into(),
        json_bytes(&NetworkResponse {
            network: nets[0].picked(None),
        }),
    ));
    let hidden = network(
        2,
        vec![
            "provider:network_type",
            "provider:physical_network",
            "provider:segmentation_id",
        ],
    );
    out.push((
        "network show hidden".into(),
        json_bytes(&NetworkResponse {
            network: hidden.picked(None),
        }),
    ));
    let fields = wanted("fields=id,provider:network_type&fields=name&fields=nope");
    out.push((
        "network show fields".into(),
        json_bytes(&NetworkResponse {
            network: hidden.picked(fields.as_ref()),
        }),
    ));
    for query in ["", "limit=2&sort_key=name", "fields=id&fields=mtu&limit=3"] {
        let request = list::parse(Some(query), NETWORK_ATTRS, &rules).expect("query");
        out.push((
            format!("network list {query}"),
            json_bytes(&NetworkList {
                networks: Items {
                    items: &nets,
                    wanted: request.wanted(),
                },
                networks_links: request.links(
                    &nets,
                    |n| n.item.id.to_string(),
                    "http://h",
                    "networks",
                ),
            }),
        ));
    }
    out.push((
        "network create bulk=false".into(),
        bytes(super::body::created(NetworkResponse {
            network: nets[0].picked(None),
        }))
        .await,
    ));
    out.push((
        "network create bulk=true".into(),
        bytes(super::body::created(NetworksCreated {
            networks: Items::all(&nets[..2]),
        }))
        .await,
    ));
    // Ports.
    let ports = vec![
        port(4, false, vec![]),
        port(5, true, vec![]),
        port(
            6,
            true,
            vec![
                "binding:host_id",
                "binding:profile",
                "binding:vif_details",
                "binding:vif_type",
            ],
        ),
    ];
    for (index, view) in ports.iter().enumerate() {
        out.push((
            format!("port show {index}"),
            json_bytes(&PortResponse {
                port: view.picked(None),
            }),
        ));
    }
    let fields = wanted("fields=trunk_details,fixed_ips,binding:profile");
    out.push((
        "port show fields".into(),
        json_bytes(&PortResponse {
            port: ports[1].picked(fields.as_ref()),
        }),
    ));
    for query in ["", "limit=3&page_reverse=true", "fields=trunk_details"] {
        let request = list::parse(Some(query), PORT_ATTRS, &rules).expect("query");
        out.push((
            format!("port list {query}"),
            json_bytes(&PortList {
                ports: Items {
                    items: &ports,
                    wanted: request.wanted(),
                },
                ports_links: request.links(&ports, |p| p.port.id.to_string(), "http://h", "ports"),
            }),
        ));
    }
    out.push((
        "port create bulk=false".into(),
        bytes(super::body::created(PortResponse {
            port: ports[2].picked(None),
        }))
        .await,
    ));
    out.push((
        "port create bulk=true".into(),
        bytes(super::body::created(PortsCreated {
            ports: Items::all(&ports),
        }))
        .await,
    ));
    // Trunks.
    let trunks = vec![trunk(7, 0), trunk(8, 3)];
    for (index, t) in trunks.iter().enumerate() {
        out.push((
            format!("trunk show/update {index}"),
            json_bytes(&TrunkResponse {
                trunk: t.picked(None),
            }),
        ));
        out.push((
            format!("trunk add/remove_subports {index}"),
            json_bytes(&TrunkWire::of(t)),
        ));
        out.push((
            format!("trunk get_subports {index}"),
            json_bytes(&SubportsResponse {
                sub_ports: Subports(&t.sub_ports),
            }),
        ));
    }
    let fields = wanted("fields=sub_ports,id");
    out.push((
        "trunk show fields".into(),
        json_bytes(&TrunkResponse {
            trunk: trunks[1].picked(fields.as_ref()),
        }),
    ));
    for query in ["", "limit=2", "fields=sub_ports"] {
        let request = list::parse(Some(query), TRUNK_ATTRS, &rules).expect("query");
        out.push((
            format!("trunk list {query}"),
            json_bytes(&TrunkList {
                trunks: Items {
                    items: &trunks,
                    wanted: request.wanted(),
                },
                trunks_links: request.links(&trunks, |t| t.id.to_string(), "http://h", "trunks"),
            }),
        ));
    }
    out.push((
        "trunk create bulk=false".into(),
        bytes(super::body::created(TrunkResponse {
            trunk: trunks[1].picked(None),
        }))
        .await,
    ));
    out.push((
        "trunk create bulk=true".into(),
        bytes(super::body::created(TrunksCreated {
            trunks: Items::all(&trunks),
        }))
        .await,
    ));
    out
}

#[tokio::test]
async fn responses_are_the_recorded_bytes() {
    let actual: String = shapes()
        .await
        .into_iter()
        .map(|(label, bytes)| format!("{label}\n{bytes}\n\n"))
        .collect();
    if std::env::var("TRUNKD_UPDATE_GOLDEN").is_ok() {
        std::fs::write(GOLDEN, &actual).expect("write the golden file");
    }
    let expected = std::fs::read_to_string(GOLDEN).unwrap_or_default();
    for (got, want) in actual.split("\n\n").zip(expected.split("\n\n")) {
        assert_eq!(got, want, "a response's bytes changed");
    }
    assert_eq!(actual.len(), expected.len(), "responses changed");
}

/// Fails unless the keys of every object in `text` come in sorted order (`binding:profile`,
/// kept as the client gave it, aside).
fn assert_sorted_keys(text: &str) {
    use serde::de::{Deserialize, Deserializer, IgnoredAny, MapAccess, SeqAccess, Visitor};

    struct Sorted;

    impl<'de> Deserialize<'de> for Sorted {
        fn deserialize<D: Deserializer<'de>>(deserializer: D) -> Result<Self, D::Error> {
            deserializer.deserialize_any(Sorted)
        }
    }

    impl<'de> Visitor<'de> for Sorted {
        type Value = Sorted;

        fn expecting(&self, f: &mut std::fmt::Formatter) -> std::fmt::Result {
            f.write_str("JSON")
        }

        fn visit_map<A: MapAccess<'de>>(self, mut map: A) -> Result<Sorted, A::Error> {
            let mut last: Option<String> = None;
            while let Some(key) = map.next_key::<String>()? {
                if let Some(previous) = &last {
                    assert!(previous < &key, "{key} after {previous}");
                }
                if key == "binding:profile" {
                    map.next_value::<IgnoredAny>()?;
                } else {
                    map.next_value::<Sorted>()?;
                }
                last = Some(key);
            }
            Ok(Sorted)
        }

        fn visit_seq<A: SeqAccess<'de>>(self, mut seq: A) -> Result<Sorted, A::Error> {
            while seq.next_element::<Sorted>()?.is_some() {}
            Ok(Sorted)
        }

        fn visit_bool<E>(self, _: bool) -> Result<Sorted, E> {
            Ok(Sorted)
        }
        fn visit_i64<E>(self, _: i64) -> Result<Sorted, E> {
            Ok(Sorted)
        }
        fn visit_u64<E>(self, _: u64) -> Result<Sorted, E> {
            Ok(Sorted)
        }
        fn visit_f64<E>(self, _: f64) -> Result<Sorted, E> {
            Ok(Sorted)
        }
        fn visit_str<E>(self, _: &str) -> Result<Sorted, E> {
            Ok(Sorted)
        }
        fn visit_unit<E>(self) -> Result<Sorted, E> {
            Ok(Sorted)
        }
    }

    serde_json::from_str::<Sorted>(text).expect("JSON");
}

/// Every answer's keys are sorted, the order networks and ports have always been answered in
/// (a response type's fields must be declared in that order).
#[tokio::test]
async fn answers_keep_their_keys_sorted() {
    for (label, bytes) in shapes().await {
        let body = bytes.strip_prefix("201 ").unwrap_or(&bytes);
        println!("{label}");
        assert_sorted_keys(body);
    }
}

/// The attribute table of each resource names exactly the attributes its answer carries.
#[test]
fn the_attribute_tables_list_every_answered_attribute() {
    let keys = |value: serde_json::Value| -> Vec<String> {
        let mut keys: Vec<String> = value
            .as_object()
            .map(|object| object.keys().cloned().collect())
            .unwrap_or_default();
        keys.sort();
        keys
    };
    let names = |table: &[crate::model::attrs::AttrSpec]| -> Vec<String> {
        let mut names: Vec<String> = table.iter().map(|spec| spec.name.to_string()).collect();
        names.sort();
        names
    };
    let net = network(2, vec![]);
    let port = port(5, true, vec![]);
    let trunk = trunk(8, 2);
    let as_value = |value: Result<serde_json::Value, serde_json::Error>| value.expect("JSON");
    assert_eq!(
        keys(as_value(serde_json::to_value(net.wire()))),
        names(NETWORK_ATTRS)
    );
    assert_eq!(
        keys(as_value(serde_json::to_value(port.wire()))),
        names(PORT_ATTRS)
    );
    assert_eq!(
        keys(as_value(serde_json::to_value(trunk.wire()))),
        names(TRUNK_ATTRS)
    );
}
