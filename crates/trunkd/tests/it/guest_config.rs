//! `GET /v2.0/trunks/{id}/guest_config` (issue 20, item 5) against a real server: the
//! `network_data` answer checked against the ports it describes and against the OpenStack
//! metadata format's fields, the `netplan` answer run through the real `netplan generate`, and
//! the refusals (bad format, another project's trunk, a subport that is not a VLAN).

use crate::common;

use std::collections::BTreeSet;
use std::path::PathBuf;
use std::process::Command;

use common::{kit, vlan, Client, Identity, Server};
use serde_json::{json, Value};

/// A trunk of project p1: the parent on a network with an IPv4 subnet (gateway, DNS server),
/// two VLAN subports on a second network with an IPv4 and an IPv6 subnet.
struct Fixture {
    trunk: String,
    parent: Value,
    /// (VLAN ID, port) by VLAN ID.
    subports: Vec<(i64, Value)>,
    parent_mtu: i64,
    subport_mtu: i64,
}

async fn fixture(owner: &Client) -> Fixture {
    let outer = owner.network(json!({"name": "outer"})).await;
    owner
        .subnet(
            &outer,
            json!({"cidr": "10.20.0.0/24", "dns_nameservers": ["10.20.0.53"]}),
        )
        .await;
    let inner = owner.network(json!({"name": "inner"})).await;
    owner
        .subnet(
            &inner,
            json!({"cidr": "10.30.0.0/24", "gateway_ip": "10.30.0.1"}),
        )
        .await;
    owner
        .subnet(&inner, json!({"cidr": "fd00:30::/64", "ip_version": 6}))
        .await;
    let parent = owner.port(&outer, json!({"name": "parent"})).await;
    let subs = owner.ports(&inner, 2).await;
    let trunk = owner
        .trunk(&parent, json!([vlan(&subs[0], 300), vlan(&subs[1], 12)]))
        .await;
    let port = |id: String| async move {
        owner.get(&format!("/v2.0/ports/{id}")).await.expect(200)["port"].clone()
    };
    let mtu = |id: String| async move {
        owner.get(&format!("/v2.0/networks/{id}")).await.expect(200)["network"]["mtu"]
            .as_i64()
            .expect("mtu")
    };
    Fixture {
        trunk,
        parent: port(parent).await,
        subports: vec![
            (12, port(subs[1].clone()).await),
            (300, port(subs[0].clone()).await),
        ],
        parent_mtu: mtu(outer).await,
        subport_mtu: mtu(inner).await,
    }
}

fn path(trunk: &str, query: &str) -> String {
    format!("/v2.0/trunks/{trunk}/guest_config{query}")
}

fn text(value: &Value) -> &str {
    value
        .as_str()
        .unwrap_or_else(|| panic!("not a string: {value}"))
}

/// The port's addresses, as `ip_address` strings.
fn addresses(port: &Value) -> BTreeSet<String> {
    port["fixed_ips"]
        .as_array()
        .expect("fixed_ips")
        .iter()
        .map(|ip| text(&ip["ip_address"]).to_string())
        .collect()
}

#[tokio::test]
async fn network_data_describes_the_ports() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let f = fixture(&owner).await;
    let reader = server.as_(Identity::reader("p1"));
    let body = reader.get(&path(&f.trunk, "")).await.expect(200);
    let explicit = reader
        .get(&path(&f.trunk, "?format=network_data"))
        .await
        .expect(200);
    assert_eq!(body, explicit, "network_data is the default");

    let links = body["links"].as_array().expect("links");
    assert_eq!(links.len(), 3, "{body}");
    let phy = &links[0];
    assert_eq!(phy["type"], "phy");
    assert_eq!(phy["id"], "trunk0");
    assert_eq!(phy["ethernet_mac_address"], f.parent["mac_address"]);
    assert_eq!(phy["mtu"], f.parent_mtu);
    assert_eq!(phy["vif_id"], f.parent["id"]);
    for (link, (vlan_id, port)) in links[1..].iter().zip(&f.subports) {
        assert_eq!(link["type"], "vlan");
        assert_eq!(link["id"], format!("trunk0.{vlan_id}"));
        assert_eq!(link["vlan_id"], *vlan_id);
        assert_eq!(link["vlan_link"], "trunk0");
        assert_eq!(link["vlan_mac_address"], port["mac_address"]);
        assert_eq!(link["mtu"], f.subport_mtu);
        assert_eq!(link["vif_id"], port["id"]);
    }

    let networks = body["networks"].as_array().expect("networks");
    let on =
        |link: &str| -> Vec<&Value> { networks.iter().filter(|n| n["link"] == link).collect() };
    let parent_networks = on("trunk0");
    assert_eq!(parent_networks.len(), 1, "{body}");
    let parent_net = parent_networks[0];
    assert_eq!(parent_net["type"], "ipv4");
    assert_eq!(
        BTreeSet::from([text(&parent_net["ip_address"]).to_string()]),
        addresses(&f.parent)
    );
    assert_eq!(parent_net["netmask"], "255.255.255.0");
    assert_eq!(parent_net["network_id"], f.parent["network_id"]);
    assert_eq!(
        parent_net["routes"],
        json!([{"network": "0.0.0.0", "netmask": "0.0.0.0", "gateway": "10.20.0.1"}]),
        "the default gateway, on the parent"
    );
    assert_eq!(
        parent_net["services"],
        json!([{"type": "dns", "address": "10.20.0.53"}])
    );
    for (vlan_id, port) in &f.subports {
        let entries = on(&format!("trunk0.{vlan_id}"));
        let found: BTreeSet<String> = entries
            .iter()
            .map(|n| text(&n["ip_address"]).to_string())
            .collect();
        assert_eq!(found, addresses(port), "VLAN {vlan_id}: {body}");
        assert_eq!(found.len(), 2, "an IPv4 and an IPv6 address: {body}");
        for entry in entries {
            assert_eq!(entry["network_id"], port["network_id"]);
            assert_eq!(entry["routes"], json!([]), "no default route on a VLAN");
            match text(&entry["type"]) {
                "ipv4" => assert_eq!(entry["netmask"], "255.255.255.0"),
                "ipv6" => assert_eq!(entry["netmask"], 64),
                other => panic!("type {other}"),
            }
        }
    }
    let ids: BTreeSet<&str> = networks.iter().map(|n| text(&n["id"])).collect();
    assert_eq!(ids.len(), networks.len(), "network ids are distinct");
    assert_eq!(
        body["services"],
        json!([{"type": "dns", "address": "10.20.0.53"}])
    );
}

/// The keys the OpenStack metadata format (`network_data.json`) gives a link of each type
/// trunkd writes, and the link types it defines.
const PHY_KEYS: &[&str] = &["id", "type", "ethernet_mac_address", "mtu", "vif_id"];
const VLAN_KEYS: &[&str] = &[
    "id",
    "type",
    "vlan_id",
    "vlan_link",
    "vlan_mac_address",
    "mtu",
    "vif_id",
];
const NETWORK_KEYS: &[&str] = &[
    "id",
    "type",
    "link",
    "ip_address",
    "netmask",
    "routes",
    "network_id",
    "services",
];
const LINK_TYPES: &[&str] = &[
    "bridge",
    "dvs",
    "hw_veb",
    "hyperv",
    "ovs",
    "tap",
    "vhostuser",
    "vif",
    "phy",
    "bond",
    "vlan",
];
const NETWORK_TYPES: &[&str] = &[
    "ipv4",
    "ipv6",
    "ipv4_dhcp",
    "ipv6_dhcp",
    "ipv6_slaac",
    "ipv6_dhcpv6-stateful",
    "ipv6_dhcpv6-stateless",
];

fn keys(value: &Value) -> BTreeSet<&str> {
    value
        .as_object()
        .unwrap_or_else(|| panic!("not an object: {value}"))
        .keys()
        .map(String::as_str)
        .collect()
}

/// Every link, network and service has exactly the keys the metadata format defines for its
/// type, of the kinds it defines, and links refer to links that exist.
fn assert_metadata_format(body: &Value) {
    assert_eq!(
        keys(body),
        BTreeSet::from(["links", "networks", "services"])
    );
    let links = body["links"].as_array().expect("links");
    let link_ids: BTreeSet<&str> = links.iter().map(|l| text(&l["id"])).collect();
    assert_eq!(link_ids.len(), links.len(), "link ids are distinct");
    for link in links {
        let kind = text(&link["type"]);
        assert!(LINK_TYPES.contains(&kind), "unknown link type {kind}");
        let expected: BTreeSet<&str> = match kind {
            "phy" => PHY_KEYS.iter().copied().collect(),
            "vlan" => VLAN_KEYS.iter().copied().collect(),
            other => panic!("trunkd writes only phy and vlan links, not {other}"),
        };
        assert_eq!(keys(link), expected, "{link}");
        assert!(link["mtu"].is_i64(), "{link}");
        if kind == "vlan" {
            assert!(link_ids.contains(text(&link["vlan_link"])), "{link}");
            let id = link["vlan_id"].as_i64().expect("vlan_id");
            assert!((1..=4094).contains(&id), "{link}");
            assert!(text(&link["vlan_mac_address"]).len() == 17, "{link}");
        } else {
            assert!(text(&link["ethernet_mac_address"]).len() == 17, "{link}");
        }
    }
    for network in body["networks"].as_array().expect("networks") {
        assert_eq!(
            keys(network),
            NETWORK_KEYS.iter().copied().collect(),
            "{network}"
        );
        assert!(NETWORK_TYPES.contains(&text(&network["type"])), "{network}");
        assert!(link_ids.contains(text(&network["link"])), "{network}");
        text(&network["ip_address"])
            .parse::<std::net::IpAddr>()
            .expect("ip_address is an address");
        for route in network["routes"].as_array().expect("routes") {
            assert_eq!(
                keys(route),
                BTreeSet::from(["network", "netmask", "gateway"])
            );
        }
        for service in network["services"].as_array().expect("services") {
            assert_eq!(keys(service), BTreeSet::from(["type", "address"]));
        }
    }
    for service in body["services"].as_array().expect("services") {
        assert_eq!(keys(service), BTreeSet::from(["type", "address"]));
        assert_eq!(service["type"], "dns");
    }
}

#[tokio::test]
async fn network_data_has_the_metadata_formats_fields_only() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let f = fixture(&owner).await;
    let body = owner.get(&path(&f.trunk, "")).await.expect(200);
    assert_metadata_format(&body);
    // A trunk without subports and a parent without addresses is still well formed.
    let bare = owner.network(json!({})).await;
    let parent = owner.port(&bare, json!({})).await;
    let empty = owner.trunk(&parent, json!([])).await;
    let body = owner.get(&path(&empty, "")).await.expect(200);
    assert_metadata_format(&body);
    assert_eq!(body["links"].as_array().map(Vec::len), Some(1));
    assert_eq!(body["networks"], json!([]));
}

/// The netplan program: on PATH or where Debian's netplan.io puts it.
fn netplan() -> Option<PathBuf> {
    kit::on_path("netplan").or_else(|| {
        let debian = PathBuf::from("/usr/sbin/netplan");
        debian.exists().then_some(debian)
    })
}

#[tokio::test]
async fn netplan_output_is_accepted_by_netplan_generate() {
    let Some(netplan) = kit::needed(
        netplan(),
        "install netplan.io (netplan)",
        "netplan_output_is_accepted_by_netplan_generate: netplan not installed \
         (apt-get install netplan.io)",
    ) else {
        return;
    };
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let f = fixture(&owner).await;
    let response = reqwest::Client::new()
        .get(format!(
            "{}{}",
            owner.base,
            path(&f.trunk, "?format=netplan")
        ))
        .header("X-Project-Id", "p1")
        .header("X-Roles", "member")
        .header("X-User-Id", "alice")
        .send()
        .await
        .expect("request reaches trunkd");
    assert_eq!(response.status().as_u16(), 200);
    assert_eq!(
        response.headers()["content-type"].to_str().ok(),
        Some("application/yaml")
    );
    let yaml = response.text().await.expect("body");
    assert!(yaml.contains(text(&f.parent["mac_address"])), "{yaml}");

    let root = tempfile::tempdir().expect("temp dir");
    let config_dir = root.path().join("etc/netplan");
    std::fs::create_dir_all(&config_dir).expect("etc/netplan");
    let file = config_dir.join("50-trunk.yaml");
    std::fs::write(&file, &yaml).expect("write the document");
    #[cfg(unix)]
    {
        use std::os::unix::fs::PermissionsExt;
        std::fs::set_permissions(&file, std::fs::Permissions::from_mode(0o600))
            .expect("netplan wants its files private");
    }
    kit::stdout_of(
        Command::new(&netplan)
            .arg("generate")
            .arg("--root-dir")
            .arg(root.path()),
        &format!("netplan generate on\n{yaml}"),
    );
    let generated = root.path().join("run/systemd/network");
    for (vlan_id, port) in &f.subports {
        let netdev = generated.join(format!("10-netplan-trunk0.{vlan_id}.netdev"));
        let text_of = std::fs::read_to_string(&netdev)
            .unwrap_or_else(|e| panic!("{}: {e}\nfrom\n{yaml}", netdev.display()));
        assert!(text_of.contains("Kind=vlan"), "{text_of}");
        assert!(text_of.contains(&format!("Id={vlan_id}\n")), "{text_of}");
        let mac = text(&port["mac_address"]);
        assert!(text_of.to_lowercase().contains(mac), "{text_of}");
        let network =
            std::fs::read_to_string(generated.join(format!("10-netplan-trunk0.{vlan_id}.network")))
                .expect("the VLAN's .network file");
        for address in addresses(port) {
            assert!(
                network.contains(&format!("Address={address}/")),
                "{network}"
            );
        }
    }
    let parent = std::fs::read_to_string(generated.join("10-netplan-trunk0.network"))
        .expect("the parent's .network file");
    for vlan_id in [12, 300] {
        assert!(
            parent.contains(&format!("VLAN=trunk0.{vlan_id}")),
            "{parent}"
        );
    }
    assert!(parent.contains("Gateway=10.20.0.1"), "{parent}");
    assert!(parent.contains("DNS=10.20.0.53"), "{parent}");
}

#[tokio::test]
async fn a_bad_format_is_a_400_naming_format() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let f = fixture(&owner).await;
    for query in ["?format=yaml", "?format=", "?format=netplan&format=netplan"] {
        let reply = owner
            .get(&path(&f.trunk, query))
            .await
            .expect_error(400, "HTTPBadRequest");
        assert!(
            reply.message().contains("format"),
            "{query}: {}",
            reply.body
        );
    }
    let reply = owner
        .get(&path(&f.trunk, "?fromat=netplan"))
        .await
        .expect_error(400, "HTTPBadRequest");
    assert!(reply.message().contains("fromat"), "{}", reply.body);
}

#[tokio::test]
async fn another_projects_trunk_is_not_found() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let f = fixture(&owner).await;
    for outsider in [Identity::member("p2"), Identity::reader("p2")] {
        server
            .as_(outsider)
            .get(&path(&f.trunk, "?format=netplan"))
            .await
            .expect_error(404, "TrunkNotFound");
    }
    server.admin().get(&path(&f.trunk, "")).await.expect(200);
    let unknown = uuid::Uuid::new_v4();
    owner
        .get(&path(&unknown.to_string(), ""))
        .await
        .expect_error(404, "TrunkNotFound");
    owner
        .get(&path("not-a-uuid", ""))
        .await
        .expect_error(404, "TrunkNotFound");
}

#[tokio::test]
async fn another_projects_subport_shows_no_addresses_to_the_trunks_owner() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let other = server.as_(Identity::member("p2"));
    let theirs = other.network(json!({"name": "theirs"})).await;
    other.subnet(&theirs, json!({"cidr": "10.77.0.0/24"})).await;
    let their_port = other.port(&theirs, json!({})).await;
    let mine = owner.network(json!({})).await;
    let parent = owner.port(&mine, json!({})).await;
    let trunk = owner.trunk(&parent, json!([])).await;
    // Only an admin can put another project's port in the trunk.
    server
        .admin()
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&their_port, 77)]}),
        )
        .await
        .expect(200);
    let body = owner.get(&path(&trunk, "")).await.expect(200);
    let links = body["links"].as_array().expect("links");
    assert!(
        links.iter().any(|l| l["vlan_id"] == 77),
        "the sub-interface is there: {body}"
    );
    let text = body.to_string();
    assert!(
        !text.contains("10.77.0."),
        "p2's address and subnet are not shown to p1: {body}"
    );
    let full = server.admin().get(&path(&trunk, "")).await.expect(200);
    assert!(
        full.to_string().contains("10.77.0."),
        "an admin sees them: {full}"
    );
}

#[tokio::test]
async fn inherited_vlans_are_configured_and_other_segmentations_are_a_409() {
    let server = Server::start();
    let admin = server.admin();
    let parent_net = admin
        .network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 100}))
        .await;
    let vlan_net = admin
        .network(json!({"provider:network_type": "vlan", "provider:physical_network": "physnet1", "provider:segmentation_id": 210}))
        .await;
    let vxlan_net = admin
        .network(json!({"provider:network_type": "vxlan", "provider:segmentation_id": 5001}))
        .await;
    let parent = admin.port(&parent_net, json!({})).await;
    let inherits = admin.port(&vlan_net, json!({})).await;
    let tunnel = admin.port(&vxlan_net, json!({})).await;
    let trunk = admin
        .trunk(
            &parent,
            json!([{"port_id": inherits, "segmentation_type": "inherit"}]),
        )
        .await;
    let body = admin.get(&path(&trunk, "")).await.expect(200);
    assert_eq!(body["links"][1]["vlan_id"], 210, "{body}");
    assert_eq!(body["links"][1]["vif_id"], inherits.as_str());

    let added = admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [{"port_id": tunnel, "segmentation_type": "inherit"}]}),
        )
        .await
        .expect(200);
    assert_eq!(
        added["sub_ports"][1]["segmentation_type"], "vxlan",
        "{added}"
    );
    for query in ["", "?format=netplan"] {
        let reply = admin
            .get(&path(&trunk, query))
            .await
            .expect_error(409, "SubPortNotVlan");
        let message = reply.message();
        assert!(message.contains(&tunnel), "{message}");
        assert!(message.contains("vxlan"), "{message}");
    }
}

#[tokio::test]
async fn an_operator_can_close_it_by_policy_without_closing_show() {
    let dir = tempfile::tempdir().expect("temp dir");
    let policy = dir.path().join("policy.yaml");
    std::fs::write(
        &policy,
        "get_trunk_guest_config: \"rule:admin_or_project_member\"\n",
    )
    .expect("write policy");
    let server = Server::start_with(&[
        "--policy-strict",
        "--policy-file",
        policy.to_str().expect("path"),
    ]);
    let owner = server.as_(Identity::member("p1"));
    let f = fixture(&owner).await;
    owner.get(&path(&f.trunk, "")).await.expect(200);
    let reader = server.as_(Identity::reader("p1"));
    reader
        .get(&format!("/v2.0/trunks/{}", f.trunk))
        .await
        .expect(200);
    reader
        .get(&path(&f.trunk, "?format=netplan"))
        .await
        .expect_error(404, "TrunkNotFound");
}
