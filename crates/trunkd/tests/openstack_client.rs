//! The real `openstack` command line (python-openstackclient on openstacksdk) driving trunkd
//! with no Keystone: auth type `none` and an endpoint override, as the README documents.
//!
//! The client comes from `TRUNKD_TEST_OPENSTACK` (a path) or PATH. CI installs it into a
//! virtualenv and requires this test to run; elsewhere, without the client, it reports SKIPPED.

mod common;

use std::path::PathBuf;
use std::process::{Command, Output};
use std::time::{Duration, Instant};

use common::Server;
use serde_json::Value;

fn client_binary() -> Option<PathBuf> {
    if let Ok(path) = std::env::var("TRUNKD_TEST_OPENSTACK") {
        return Some(PathBuf::from(path));
    }
    std::env::var_os("PATH").and_then(|paths| {
        std::env::split_paths(&paths)
            .map(|dir| dir.join("openstack"))
            .find(|candidate| candidate.is_file())
    })
}

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
    let Some(binary) = client_binary() else {
        assert!(
            std::env::var("CI").is_err(),
            "CI must install the openstack client (TRUNKD_TEST_OPENSTACK)"
        );
        println!("SKIPPED: openstack client not installed (set TRUNKD_TEST_OPENSTACK)");
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
    assert_eq!(trunk["status"], "DOWN");
    assert_eq!(trunk["sub_ports"].as_array().map(Vec::len), Some(2));

    let listed = cli.json(&["network", "trunk", "list"]);
    assert_eq!(listed.as_array().map(Vec::len), Some(1));
    assert_eq!(listed[0]["Name"], "trunk1");

    let deadline = Instant::now() + Duration::from_secs(20);
    while cli.json(&["network", "trunk", "show", "trunk1"])["status"] != "ACTIVE" {
        assert!(Instant::now() < deadline, "trunk1 never became ACTIVE");
        std::thread::sleep(Duration::from_millis(100));
    }

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
