//! The real `openstack` command line (python-openstackclient on openstacksdk) driving trunkd
//! with no Keystone: auth type `none` and an endpoint override, as the README documents.
//!
//! The client comes from `TRUNKD_TEST_OPENSTACK` (a path) or PATH. CI installs it into a
//! virtualenv and requires this test to run; elsewhere, without the client, it reports SKIPPED.

use crate::common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::Duration;

use common::kit::{self, wait_until};
use common::Server;
use serde_json::Value;

struct Cli {
    binary: PathBuf,
    config: tempfile::TempDir,
}

impl Cli {
    fn new(binary: PathBuf, server: &Server) -> Cli {
        let config = tempfile::tempdir().expect("dir");
        let clouds = format!(
            "clouds:\n  trunkd:\n    auth_type: none\n    auth:\n      endpoint: {base}\n    network_endpoint_override: {base}/\n",
            base = server.base
        );
        std::fs::write(config.path().join("clouds.yaml"), clouds).expect("clouds.yaml");
        Cli { binary, config }
    }

    fn run(&self, args: &[&str]) -> Output {
        Command::new(&self.binary)
            .args(args)
            .env(
                "OS_CLIENT_CONFIG_FILE",
                self.config.path().join("clouds.yaml"),
            )
            .env("OS_CLOUD", "trunkd")
            .output()
            .expect("openstack runs")
    }

    /// Runs a command that must succeed and prints JSON.
    fn json(&self, args: &[&str]) -> Value {
        let mut all = args.to_vec();
        all.extend(["-f", "json"]);
        let output = self.run(&all);
        assert!(
            output.status.success(),
            "openstack {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
        serde_json::from_slice(&output.stdout).unwrap_or_else(|_| {
            panic!(
                "openstack {args:?} printed no JSON: {}",
                String::from_utf8_lossy(&output.stdout)
            )
        })
    }

    fn ok(&self, args: &[&str]) {
        let output = self.run(args);
        assert!(
            output.status.success(),
            "openstack {args:?}: {}",
            String::from_utf8_lossy(&output.stderr)
        );
    }
}

fn subport_vlans(list: &Value) -> Vec<i64> {
    let mut vlans: Vec<i64> = list
        .as_array()
        .expect("subport list")
        .iter()
        .map(|s| s["Segmentation ID"].as_i64().expect("segmentation id"))
        .collect();
    vlans.sort();
    vlans
}

#[test]
fn openstack_cli_manages_trunks() {
    let Some(binary) = kit::require_tool("openstack_cli_manages_trunks", &kit::OPENSTACK) else {
        return;
    };
    let server = Server::start_with(&["--noauth-default-admin"]);
    let cli = Cli::new(binary, &server);

    let network = cli.json(&["network", "create", "net1"]);
    assert_eq!(network["name"], "net1");
    assert_eq!(network["mtu"], 1450);
    for port in ["parent", "sub1", "sub2", "sub3"] {
        let created = cli.json(&["port", "create", "--network", "net1", port]);
        assert_eq!(created["name"], port);
    }

    let trunk = cli.json(&[
        "network",
        "trunk",
        "create",
        "--parent-port",
        "parent",
        "--subport",
        "port=sub1,segmentation-type=vlan,segmentation-id=101",
        "--subport",
        "port=sub2,segmentation-type=vlan,segmentation-id=102",
        "trunk1",
    ]);
    assert_eq!(trunk["name"], "trunk1");
    assert_eq!(
        trunk["status"], "ACTIVE",
        "the noop driver's answer is final"
    );
    assert_eq!(trunk["sub_ports"].as_array().map(Vec::len), Some(2));

    let listed = cli.json(&["network", "trunk", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["Name"], "trunk1");

    wait_until(Duration::from_secs(20), "trunk1 to become ACTIVE", || {
        cli.json(&["network", "trunk", "show", "trunk1"])["status"] == "ACTIVE"
    });

    // The error a user sees on a VLAN ID clash.
    let clash = cli.run(&[
        "network",
        "trunk",
        "set",
        "--subport",
        "port=sub3,segmentation-type=vlan,segmentation-id=101",
        "trunk1",
    ]);
    assert!(!clash.status.success(), "a VLAN clash must fail");
    let message = String::from_utf8_lossy(&clash.stderr);
    assert!(message.contains("409"), "{message}");
    assert!(
        message.contains("segmentation_id 101 already in use"),
        "{message}"
    );

    cli.ok(&[
        "network",
        "trunk",
        "set",
        "--subport",
        "port=sub3,segmentation-type=vlan,segmentation-id=103",
        "trunk1",
    ]);
    assert_eq!(
        subport_vlans(&cli.json(&["network", "subport", "list", "--trunk", "trunk1"])),
        [101, 102, 103]
    );
    cli.ok(&["network", "trunk", "unset", "--subport", "sub2", "trunk1"]);
    assert_eq!(
        subport_vlans(&cli.json(&["network", "subport", "list", "--trunk", "trunk1"])),
        [101, 103]
    );

    let parent = cli.json(&["port", "show", "parent"]);
    let details = &parent["trunk_details"];
    assert_eq!(details["trunk_id"], trunk["id"]);
    assert_eq!(details["sub_ports"].as_array().map(Vec::len), Some(2));

    cli.ok(&["network", "trunk", "delete", "trunk1"]);
    assert_eq!(
        cli.json(&["network", "trunk", "list"]),
        serde_json::json!([])
    );
    let freed = cli.json(&["port", "show", "sub1"]);
    assert_eq!(freed["device_owner"], "");
}

#[test]
fn openstack_cli_manages_subnets() {
    let Some(binary) = kit::require_tool("openstack_cli_manages_subnets", &kit::OPENSTACK) else {
        return;
    };
    let server = Server::start_with(&["--noauth-default-admin"]);
    let cli = Cli::new(binary, &server);
    cli.json(&["network", "create", "n"]);
    let created = cli.json(&[
        "subnet",
        "create",
        "--network",
        "n",
        "--subnet-range",
        "10.0.0.0/24",
        "s1",
    ]);
    assert_eq!(created["name"], "s1");
    assert_eq!(created["cidr"], "10.0.0.0/24");
    assert_eq!(created["gateway_ip"], "10.0.0.1");
    assert_eq!(created["enable_dhcp"], true);

    let listed = cli.json(&["subnet", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1), "{listed}");
    assert_eq!(listed[0]["Name"], "s1");
    assert_eq!(listed[0]["Subnet"], "10.0.0.0/24");

    cli.ok(&[
        "subnet",
        "set",
        "--name",
        "s2",
        "--dns-nameserver",
        "8.8.8.8",
        "--no-dhcp",
        "s1",
    ]);
    let shown = cli.json(&["subnet", "show", "s2"]);
    assert_eq!(shown["enable_dhcp"], false);
    assert_eq!(shown["dns_nameservers"], serde_json::json!(["8.8.8.8"]));
    let network = cli.json(&["network", "show", "n"]);
    assert_eq!(
        network["subnets"],
        serde_json::json!([shown["id"]]),
        "{network}"
    );

    // The error a user sees on an overlapping range.
    let overlap = cli.run(&[
        "subnet",
        "create",
        "--network",
        "n",
        "--subnet-range",
        "10.0.0.128/25",
        "s3",
    ]);
    assert!(!overlap.status.success(), "an overlapping range must fail");
    let message = String::from_utf8_lossy(&overlap.stderr);
    assert!(
        message.contains("overlaps with another subnet"),
        "{message}"
    );

    // Ports take addresses from it: one chosen, one handed out.
    let chosen = cli.json(&[
        "port",
        "create",
        "--network",
        "n",
        "--fixed-ip",
        "subnet=s2,ip-address=10.0.0.50",
        "p1",
    ]);
    assert_eq!(
        chosen["fixed_ips"],
        serde_json::json!([{"subnet_id": shown["id"], "ip_address": "10.0.0.50"}]),
        "{chosen}"
    );
    let handed = cli.json(&["port", "create", "--network", "n", "p2"]);
    assert_eq!(handed["fixed_ips"][0]["ip_address"], "10.0.0.2", "{handed}");
    // Adding an address the other port holds is Neutron's 409, in the user's words.
    let taken = cli.run(&["port", "set", "--fixed-ip", "ip-address=10.0.0.2", "p1"]);
    assert!(!taken.status.success(), "a held address must be refused");
    let message = String::from_utf8_lossy(&taken.stderr);
    assert!(message.contains("already allocated"), "{message}");
    cli.ok(&[
        "port",
        "set",
        "--fixed-ip",
        "subnet=s2,ip-address=10.0.0.51",
        "p1",
    ]);
    let both = cli.json(&["port", "show", "p1"]);
    assert_eq!(
        both["fixed_ips"].as_array().map(Vec::len),
        Some(2),
        "{both}"
    );
    cli.ok(&[
        "port",
        "unset",
        "--fixed-ip",
        "subnet=s2,ip-address=10.0.0.50",
        "p1",
    ]);
    let one = cli.json(&["port", "show", "p1"]);
    assert_eq!(one["fixed_ips"][0]["ip_address"], "10.0.0.51", "{one}");

    // A subnet ports hold addresses of cannot go until they give them back.
    let in_use = cli.run(&["subnet", "delete", "s2"]);
    assert!(!in_use.status.success(), "a subnet in use must stay");
    let message = String::from_utf8_lossy(&in_use.stderr);
    assert!(message.contains("IP allocation"), "{message}");
    cli.ok(&["port", "delete", "p1", "p2"]);
    cli.ok(&["subnet", "delete", "s2"]);
    assert_eq!(cli.json(&["subnet", "list"]), serde_json::json!([]));
}

/// openstacksdk's trunk proxy calls, scripted in Python with the client's own interpreter.
const SDK_SCRIPT: &str = r#"
import json, sys, openstack
conn = openstack.connect(cloud="trunkd")
net = conn.network.create_network(name="sdk-net")
subnet = conn.network.create_subnet(network_id=net.id, ip_version=4, cidr="10.7.0.9/24", name="sdk-sub")
ports = [conn.network.create_port(network_id=net.id, name=n) for n in ("p", "s1", "s2")]
trunk = conn.network.create_trunk(port_id=ports[0].id, name="sdk-trunk",
    sub_ports=[{"port_id": ports[1].id, "segmentation_type": "vlan", "segmentation_id": 7}])
conn.network.add_trunk_subports(trunk, [{"port_id": ports[2].id, "segmentation_type": "vlan", "segmentation_id": 8}])
after_add = conn.network.get_trunk_subports(trunk)["sub_ports"]
conn.network.delete_trunk_subports(trunk, [{"port_id": ports[1].id}])
after_remove = conn.network.get_trunk_subports(trunk)["sub_ports"]
listed = [t.name for t in conn.network.trunks()]
shown = conn.network.get_trunk(trunk.id)
conn.network.delete_trunk(trunk)
gone = conn.network.find_trunk("sdk-trunk") is None
print(json.dumps({"after_add": sorted(s["segmentation_id"] for s in after_add),
                  "after_remove": [s["segmentation_id"] for s in after_remove],
                  "listed": listed, "revision": shown.revision_number,
                  "project": shown.project_id, "gone": gone,
                  "subnet": [subnet.cidr, subnet.gateway_ip, conn.network.get_network(net.id).subnet_ids],
                  "addresses": [p.fixed_ips[0]["ip_address"] for p in ports]}))
"#;

#[test]
fn openstacksdk_manages_trunks() {
    let Some(binary) = kit::require_tool("openstacksdk_manages_trunks", &kit::OPENSTACK) else {
        return;
    };
    // The client's virtualenv holds the interpreter with openstacksdk.
    let python = binary.with_file_name("python");
    let server = Server::start_with(&["--noauth-default-admin"]);
    let cli = Cli::new(binary, &server);
    let output = Command::new(&python)
        .args(["-c", SDK_SCRIPT])
        .env(
            "OS_CLIENT_CONFIG_FILE",
            cli.config.path().join("clouds.yaml"),
        )
        .output()
        .expect("python runs");
    assert!(
        output.status.success(),
        "openstacksdk script: {}",
        String::from_utf8_lossy(&output.stderr)
    );
    let report: Value = serde_json::from_slice(&output.stdout).expect("script prints JSON");
    assert_eq!(report["after_add"], serde_json::json!([7, 8]));
    assert_eq!(report["after_remove"], serde_json::json!([8]));
    assert_eq!(report["listed"], serde_json::json!(["sdk-trunk"]));
    assert!(report["revision"].as_i64() >= Some(2), "{report}");
    assert_eq!(report["project"], "admin");
    assert_eq!(report["gone"], true);
    let subnet = &report["subnet"];
    assert_eq!(subnet[0], "10.7.0.0/24");
    assert_eq!(subnet[1], "10.7.0.1");
    assert_eq!(subnet[2].as_array().map(Vec::len), Some(1), "{report}");
    assert_eq!(
        report["addresses"],
        serde_json::json!(["10.7.0.2", "10.7.0.3", "10.7.0.4"])
    );
}
