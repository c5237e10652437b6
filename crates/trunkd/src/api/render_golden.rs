//! Pins the bytes of every response shape of networks, ports and trunks (show, `fields=`,
//! attributes policy hides, list pages with links, single and bulk create, the subport calls)
//! on fixed resources. `testdata/render_golden.txt` was recorded from the `json!`-built
//! renderers the typed response structs replaced; re-record after an intended change with
//! `TRUNKD_UPDATE_GOLDEN=1 cargo test --lib render_golden` and review the diff.

use super::list::{self, select_fields};
use super::render::{self, Envelope, TrunkJson};
use crate::model::attrs::{NETWORK_ATTRS, PORT_ATTRS, TRUNK_ATTRS};
use crate::model::{
    FixedIp, Network, NetworkType, Port, SegmentationType, StandardAttrs, Subport, Trunk,
    TrunkStatus,
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
            status: "ACTIVE".into(),
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
            status: "DOWN".into(),
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
    }
}

fn trunk(n: u8, subports: usize) -> Trunk {
    Trunk {
        id: id(n),
        project_id: crate::ids::ProjectId::new("p1"),
        port_id: id(10),
        name: "trunk".into(),
        description: "tr".into(),
        admin_state_up: true,
        status: TrunkStatus::Active,
        sub_ports: (0..subports)
            .map(|i| Subport {
                port_id: id(30 + i as u8),
                segmentation_type: if i == 1 {
                    SegmentationType::Other("vxlan".into())
                } else {
                    SegmentationType::Vlan
                },
                segmentation_id: 200 + i as i64,
            })
            .collect(),
        std: std_attrs(&["t"]),
    }
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
    let fields = |q: &str| super::show_fields(Some(q));
    let rules = ListRules::default();
    // Networks.
    let nets = vec![network(1, vec![]), network(2, vec![]), network(3, vec![])];
    out.push((
        "network show".into(),
        json_bytes(&render::wrapped("network", render::network(&nets[0]))),
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
        json_bytes(&render::wrapped("network", render::network(&hidden))),
    ));
    out.push((
        "network show fields".into(),
        json_bytes(&render::wrapped(
            "network",
            select_fields(
                render::network(&hidden),
                &fields("fields=id,provider:network_type&fields=name&fields=nope"),
            ),
        )),
    ));
    for query in ["", "limit=2&sort_key=name", "fields=id&fields=mtu&limit=3"] {
        let request = list::parse(Some(query), NETWORK_ATTRS, &rules).expect("query");
        out.push((
            format!("network list {query}"),
            json_bytes(&request.respond(
                nets.clone(),
                |n| n.item.id.to_string(),
                render::network,
                "http://h",
                "networks",
            )),
        ));
    }
    for bulk in [false, true] {
        out.push((
            format!("network create bulk={bulk}"),
            bytes(super::body::created(
                "network",
                "networks",
                bulk,
                nets[..2 - usize::from(!bulk)]
                    .iter()
                    .map(render::network)
                    .collect(),
            ))
            .await,
        ));
    }
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
            json_bytes(&render::wrapped("port", render::port(view))),
        ));
    }
    out.push((
        "port show fields".into(),
        json_bytes(&render::wrapped(
            "port",
            select_fields(
                render::port(&ports[1]),
                &fields("fields=trunk_details,fixed_ips,binding:profile"),
            ),
        )),
    ));
    for query in ["", "limit=3&page_reverse=true", "fields=trunk_details"] {
        let request = list::parse(Some(query), PORT_ATTRS, &rules).expect("query");
        out.push((
            format!("port list {query}"),
            json_bytes(&request.respond(
                ports.clone(),
                |p| p.port.id.to_string(),
                render::port,
                "http://h",
                "ports",
            )),
        ));
    }
    for bulk in [false, true] {
        out.push((
            format!("port create bulk={bulk}"),
            bytes(super::body::created(
                "port",
                "ports",
                bulk,
                ports
                    .iter()
                    .skip(usize::from(!bulk))
                    .map(render::port)
                    .collect(),
            ))
            .await,
        ));
    }
    // Trunks.
    let trunks = vec![trunk(7, 0), trunk(8, 3)];
    for (index, t) in trunks.iter().enumerate() {
        out.push((
            format!("trunk show/update {index}"),
            json_bytes(&Envelope {
                key: "trunk",
                value: TrunkJson::of(t),
            }),
        ));
        out.push((
            format!("trunk add/remove_subports {index}"),
            json_bytes(&TrunkJson::of(t)),
        ));
        let mut body = serde_json::Map::new();
        body.insert(
            "sub_ports".into(),
            serde_json::Value::Array(t.sub_ports.iter().map(render::subport).collect()),
        );
        out.push((format!("trunk get_subports {index}"), json_bytes(&body)));
    }
    out.push((
        "trunk show fields".into(),
        json_bytes(&render::wrapped(
            "trunk",
            select_fields(render::trunk(&trunks[1]), &fields("fields=sub_ports,id")),
        )),
    ));
    for query in ["", "limit=2", "fields=sub_ports"] {
        let request = list::parse(Some(query), TRUNK_ATTRS, &rules).expect("query");
        out.push((
            format!("trunk list {query}"),
            json_bytes(&request.respond(
                trunks.clone(),
                |t| t.id.to_string(),
                render::trunk,
                "http://h",
                "trunks",
            )),
        ));
    }
    for bulk in [false, true] {
        out.push((
            format!("trunk create bulk={bulk}"),
            bytes(super::body::created(
                "trunk",
                "trunks",
                bulk,
                trunks
                    .iter()
                    .skip(usize::from(!bulk))
                    .map(render::trunk)
                    .collect(),
            ))
            .await,
        ));
    }
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
