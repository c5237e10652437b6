//! trunkd's `ovn` driver against the whole of OVN (the [`crate::ovn`] harness: NB, SB,
//! ovn-northd, a userspace Open vSwitch and ovn-controller as one chassis): VIFs plugged as
//! os-vif plugs them are claimed, a subport is claimed with its parent's VIF, and frames on the
//! parent's VIF reach the subport networks by their VLAN tag and only by it, as
//! `ofproto/trace` follows them through the flows ovn-controller installed; with
//! `--ovn-sb-connection`, the chassis a port is bound to is checked against SB.

use crate::common;
use crate::ovn;

use std::time::{Duration, Instant};

use common::{vlan, Client, Server};
use ovn::{Delivery, Ovn};
use serde_json::{json, Value};

const PORT: &str = "Logical_Switch_Port";

fn start(ovn: &Ovn) -> Server {
    start_with(ovn, &[])
}

fn start_with(ovn: &Ovn, extra: &[&str]) -> Server {
    let connection = ovn.nb_connection();
    let mut args = vec![
        "--noauth-default-admin",
        "--driver",
        "ovn",
        "--ovn-nb-connection",
        &connection,
    ];
    args.extend_from_slice(extra);
    Server::start_with(&args)
}

/// A network with one IPv4 subnet.
async fn network_with_subnet(admin: &Client, name: &str, cidr: &str) -> String {
    let network = admin.network(json!({ "name": name })).await;
    admin
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": cidr}}),
        )
        .await
        .expect(201);
    network
}

/// A port on `network`: its ID and MAC address.
async fn port(admin: &Client, network: &str) -> (String, String) {
    let body: Value = admin
        .post("/v2.0/ports", json!({"port": {"network_id": network}}))
        .await
        .expect(201);
    let field = |name: &str| {
        body["port"][name]
            .as_str()
            .unwrap_or_else(|| panic!("port {name} in {body}"))
            .to_string()
    };
    (field("id"), field("mac_address"))
}

/// Binds `port` to the harness's chassis, as Nova binds a VM's port.
async fn bind_to_chassis(admin: &Client, ovn: &Ovn, port: &str) {
    admin
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"binding:host_id": ovn.chassis()}}),
        )
        .await
        .expect(200);
}

/// An ovn-nbctl value with its quotes off (`[]` for an empty set).
fn nb_value(ovn: &Ovn, record: &str, column: &str) -> String {
    ovn.nbctl(&["--if-exists", "get", PORT, record, column])
        .trim_matches('"')
        .to_string()
}

/// Waits until the API shows `port` with `status`; how long that took.
async fn wait_for_port_status(admin: &Client, port: &str, status: &str) -> Duration {
    let started = Instant::now();
    loop {
        let body = admin.get(&format!("/v2.0/ports/{port}")).await.expect(200);
        if body["port"]["status"] == status {
            return started.elapsed();
        }
        assert!(
            started.elapsed() < Duration::from_secs(20),
            "port {port} still {} instead of {status}",
            body["port"]["status"]
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
}

fn untagged(interface: &str) -> Delivery {
    Delivery {
        interface: interface.to_string(),
        vlan: None,
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn trunk_frames_cross_ovn_by_their_vlan_tag() {
    let began = Instant::now();
    let Some(ovn) = Ovn::start("trunk_frames_cross_ovn_by_their_vlan_tag") else {
        return;
    };
    // A short reconcile interval: the test breaks a network by hand and waits for repair.
    let server = start_with(&ovn, &["--ovn-reconcile-interval", "2"]);
    let admin = server.admin();
    let parent_network = network_with_subnet(&admin, "parent", "10.0.0.0/24").await;
    let network_10 = network_with_subnet(&admin, "vlan10", "10.0.10.0/24").await;
    let network_20 = network_with_subnet(&admin, "vlan20", "10.0.20.0/24").await;
    let (parent, parent_mac) = port(&admin, &parent_network).await;
    let (sub_10, sub_10_mac) = port(&admin, &network_10).await;
    let (sub_20, sub_20_mac) = port(&admin, &network_20).await;
    // Ordinary ports (VMs without trunks) on each subport's network.
    let (vm_10, vm_10_mac) = port(&admin, &network_10).await;
    let (vm_20, vm_20_mac) = port(&admin, &network_20).await;
    let trunk = admin
        .trunk(&parent, json!([vlan(&sub_10, 10), vlan(&sub_20, 20)]))
        .await;
    // Bound to the chassis, as Nova binds a VM's port: its subports follow.
    bind_to_chassis(&admin, &ovn, &parent).await;

    // The driver's rows, before anything is plugged.
    ovn.wait(Duration::from_secs(15), "the subports' rows in NB", |ovn| {
        [(&sub_10, "10"), (&sub_20, "20")].iter().all(|(sub, tag)| {
            nb_value(ovn, sub, "parent_name") == parent.as_str()
                && nb_value(ovn, sub, "tag") == *tag
        })
    });
    ovn.wait(Duration::from_secs(15), "Port_Bindings in SB", |ovn| {
        [&parent, &sub_10, &sub_20, &vm_10, &vm_20]
            .iter()
            .all(|port| ovn.binding(port).is_some())
    });

    // VMs on the subport networks: claimed; the subports wait for their parent's VIF.
    let tap_vm_10 = ovn.plug_vif(&vm_10, &vm_10_mac);
    let tap_vm_20 = ovn.plug_vif(&vm_20, &vm_20_mac);
    ovn.wait_for_claim(&vm_10);
    ovn.wait_for_claim(&vm_20);
    for sub in [&sub_10, &sub_20] {
        let binding = ovn.binding(sub).expect("the subport's binding");
        assert_eq!(binding.chassis, None, "{sub} claimed without its parent");
    }
    // The API follows the data plane (issue 19, item 1): the claimed VMs are ACTIVE, the
    // parent and subports, whose VIF is not there, DOWN.
    for vm in [&vm_10, &vm_20] {
        wait_for_port_status(&admin, vm, "ACTIVE").await;
    }
    for port in [&parent, &sub_10, &sub_20] {
        let body = admin.get(&format!("/v2.0/ports/{port}")).await.expect(200);
        assert_eq!(body["port"]["status"], "DOWN", "{port} before its VIF");
    }
    // So is the trunk, and it says why (issue 19, item 2).
    let before = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(before["trunk"]["status"], "DOWN");
    assert_eq!(before["trunk"]["status_reason"]["code"], "parent_down");

    // The parent's VIF: the parent and, with it, its subports are claimed.
    let tap_parent = ovn.plug_vif(&parent, &parent_mac);
    ovn.wait_for_claim(&parent);
    ovn.wait_for_claim(&sub_10);
    ovn.wait_for_claim(&sub_20);
    for port in [&parent, &sub_10, &sub_20] {
        wait_for_port_status(&admin, port, "ACTIVE").await;
    }
    let active = admin.wait_for_status(&trunk, "ACTIVE").await;
    assert_eq!(active["status_reason"], Value::Null);

    // Unicast tagged 10 from the parent's VIF to the VM on subport 10's network: it arrives
    // there, untagged, and nowhere else. Tagged 20, the same frame has no way to that VM.
    // The subport's own addresses (IPAM gave it 10.0.10.2, the VM 10.0.10.3): port security
    // lets a subport send only from them.
    let to_vm_10 = |src: &str| {
        format!("dl_src={src},dl_dst={vm_10_mac},dl_type=0x0800,nw_src=10.0.10.2,nw_dst=10.0.10.3")
    };
    assert_eq!(
        ovn.trace(&tap_parent, Some(10), &to_vm_10(&sub_10_mac)),
        vec![untagged(&tap_vm_10)],
        "a unicast frame tagged 10 reaches only the VM on subport 10's network, untagged"
    );
    let stray = ovn.trace(&tap_parent, Some(20), &to_vm_10(&sub_20_mac));
    assert!(
        stray.is_empty(),
        "a frame tagged 20 for the VM on subport 10's network went to {stray:?}"
    );

    // Port security: tagged 10 but from another MAC (the parent's), the frame is dropped.
    let spoofed = ovn.trace(&tap_parent, Some(10), &to_vm_10(&parent_mac));
    assert!(
        spoofed.is_empty(),
        "a frame tagged 10 with the parent's MAC got through to {spoofed:?}"
    );

    // Broadcast: tagged 10 floods subport 10's network only, tagged 20 subport 20's only.
    // ARP requests from each sender's own MAC and address, as port security requires.
    let arp = |src: &str, ip: &str| {
        format!(
            "dl_src={src},dl_dst=ff:ff:ff:ff:ff:ff,dl_type=0x0806,arp_op=1,arp_sha={src},\
             arp_spa={ip},arp_tpa=10.0.0.250"
        )
    };
    assert_eq!(
        ovn.trace(&tap_parent, Some(10), &arp(&sub_10_mac, "10.0.10.2")),
        vec![untagged(&tap_vm_10)]
    );
    assert_eq!(
        ovn.trace(&tap_parent, Some(20), &arp(&sub_20_mac, "10.0.20.2")),
        vec![untagged(&tap_vm_20)]
    );
    // Untagged from the parent: its own network, where no other VIF is.
    assert_eq!(
        ovn.trace(&tap_parent, None, &arp(&parent_mac, "10.0.0.2")),
        Vec::<Delivery>::new()
    );

    // The reverse: a broadcast from the VM on subport 10's network reaches the parent's VIF
    // tagged 10.
    assert_eq!(
        ovn.trace(&tap_vm_10, None, &arp(&vm_10_mac, "10.0.10.3")),
        vec![Delivery {
            interface: tap_parent.clone(),
            vlan: Some(10),
        }]
    );

    // Subport 20's network breaks: its logical switch is deleted by hand, and the subport's
    // row with it. The trunk is DEGRADED and says which subport and why. The reconciler
    // restores the switch and its rows, ovn-controller claims them again: ACTIVE.
    ovn.nbctl(&["ls-del", &format!("neutron-{network_20}")]);
    let degraded = admin.wait_for_status(&trunk, "DEGRADED").await;
    let statuses = degraded["sub_ports_status"].as_array().expect("statuses");
    let of = |port: &str| {
        statuses
            .iter()
            .find(|s| s["port_id"] == port)
            .cloned()
            .unwrap_or(Value::Null)
    };
    assert_eq!(of(&sub_10)["status"], "ACTIVE", "{degraded}");
    assert_eq!(of(&sub_20)["status"], "DOWN", "{degraded}");
    assert_eq!(of(&sub_20)["status_reason"]["code"], "not_claimed");
    assert_eq!(degraded["status_reason"]["code"], "subports_not_active");
    let recovered = admin.wait_for_status(&trunk, "ACTIVE").await;
    assert!(
        recovered["revision_number"].as_i64() > degraded["revision_number"].as_i64(),
        "each status change moves the revision"
    );
    ovn.wait_for_claim(&sub_20);

    // The parent's VIF goes: the parent and its subports are released; the VMs stay.
    ovn.unplug_vif(&tap_parent);
    for port in [&parent, &sub_10, &sub_20] {
        ovn.wait_for_release(port);
        wait_for_port_status(&admin, port, "DOWN").await;
    }
    ovn.wait_for_claim(&vm_10);
    let body = admin.get(&format!("/v2.0/ports/{vm_10}")).await.expect(200);
    assert_eq!(body["port"]["status"], "ACTIVE", "the VM stays up");
    let down = admin.wait_for_status(&trunk, "DOWN").await;
    assert_eq!(down["status_reason"]["code"], "parent_down");

    let took = began.elapsed();
    assert!(took < Duration::from_secs(60), "the test took {took:?}");
}

/// Nearest-rank percentile of sorted samples.
fn percentile(sorted: &[Duration], pct: usize) -> Duration {
    let rank = (sorted.len() * pct).div_ceil(100).max(1);
    sorted[rank.min(sorted.len()) - 1]
}

/// 100 VIFs plugged one after the other: every port turns ACTIVE in the API, and the time from
/// each plug to its ACTIVE is printed (p50, p99) for the report; nothing about it is
/// asserted (timings belong to reports, not to pass/fail).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_hundred_plugged_vifs_turn_active() {
    let Some(ovn) = Ovn::start("a_hundred_plugged_vifs_turn_active") else {
        return;
    };
    let server = start(&ovn);
    let admin = server.admin();
    let network = network_with_subnet(&admin, "many", "10.1.0.0/24").await;
    let body = admin
        .post(
            "/v2.0/ports",
            json!({"ports": (0..100).map(|_| json!({"network_id": network})).collect::<Vec<_>>()}),
        )
        .await
        .expect(201);
    let ports: Vec<(String, String)> = body["ports"]
        .as_array()
        .expect("ports")
        .iter()
        .map(|p| {
            (
                p["id"].as_str().expect("id").to_string(),
                p["mac_address"].as_str().expect("mac").to_string(),
            )
        })
        .collect();
    admin.wait_for_outbox_drained().await;
    ovn.wait(
        Duration::from_secs(30),
        "the ports' bindings in SB",
        |ovn| ports.iter().all(|(port, _)| ovn.binding(port).is_some()),
    );
    let mut latencies = Vec::with_capacity(ports.len());
    for (port, mac) in &ports {
        let plugged = Instant::now();
        ovn.plug_vif(port, mac);
        loop {
            let shown = admin.get(&format!("/v2.0/ports/{port}")).await.expect(200);
            if shown["port"]["status"] == "ACTIVE" {
                latencies.push(plugged.elapsed());
                break;
            }
            assert!(
                plugged.elapsed() < Duration::from_secs(30),
                "port {port} not ACTIVE 30 s after its VIF was plugged"
            );
            tokio::time::sleep(Duration::from_millis(5)).await;
        }
    }
    latencies.sort_unstable();
    eprintln!(
        "VIF plugged to port ACTIVE in the API over {} ports: p50 {:?}, p99 {:?}, max {:?}",
        latencies.len(),
        percentile(&latencies, 50),
        percentile(&latencies, 99),
        latencies.last().copied().unwrap_or_default()
    );
    let listed = admin
        .get(&format!("/v2.0/ports?network_id={network}&status=ACTIVE"))
        .await
        .expect(200);
    assert_eq!(listed["ports"].as_array().map(Vec::len), Some(100));
}

/// A VLAN provider network reaches the southbound database as a localnet Port_Binding with
/// its VLAN tag and physical network (issue 19, item 4): what ovn-controller needs to take the
/// network's traffic to the bridge a chassis maps `physnet1` to.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_network_is_a_localnet_binding() {
    let Some(ovn) = Ovn::start("a_provider_network_is_a_localnet_binding") else {
        return;
    };
    let server = start(&ovn);
    let admin = server.admin();
    let network = admin
        .network(json!({"provider:network_type": "vlan",
            "provider:physical_network": "physnet1", "provider:segmentation_id": 123}))
        .await;
    admin.wait_for_outbox_drained().await;
    let name = format!("provnet-{network}");
    let field = |ovn: &Ovn, column: &str| {
        ovn.sbctl(&[
            "--bare",
            &format!("--columns={column}"),
            "find",
            "Port_Binding",
            &format!("logical_port={name}"),
        ])
        .trim()
        .to_string()
    };
    ovn.wait(
        Duration::from_secs(15),
        "the localnet binding in SB",
        |ovn| field(ovn, "type") == "localnet",
    );
    assert_eq!(field(&ovn, "tag"), "123");
    assert_eq!(field(&ovn, "options"), "network_name=physnet1");
    // The network goes, and its binding with it.
    admin
        .delete(&format!("/v2.0/networks/{network}"))
        .await
        .expect(204);
    ovn.wait(
        Duration::from_secs(15),
        "the localnet binding's removal",
        |ovn| field(ovn, "type").is_empty(),
    );
}

/// With the southbound database configured (issue 19, item 4), against a real ovn-northd and
/// ovn-controller: SB is the dependency `ovn_sb`, up; a port bound to this chassis is claimed
/// with no warning, while one bound to a host no chassis answers to is warned about in the
/// log (and its VIF stays unclaimed, which is what the warning is for).
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_southbound_session_knows_the_chassis() {
    let Some(ovn) = Ovn::start("the_southbound_session_knows_the_chassis") else {
        return;
    };
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log = log_dir.path().join("trunkd.log");
    let (nb, sb) = (ovn.nb_connection(), ovn.sb_connection());
    let server = Server::start_logged(
        &[
            "--noauth-default-admin",
            "--driver",
            "ovn",
            "--ovn-nb-connection",
            &nb,
            "--ovn-sb-connection",
            &sb,
        ],
        &log,
    );
    crate::readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    let admin = server.admin();
    let network = network_with_subnet(&admin, "bound", "10.2.0.0/24").await;
    let (here, here_mac) = port(&admin, &network).await;
    let (nowhere, nowhere_mac) = port(&admin, &network).await;
    for (port, host) in [(&here, ovn.chassis()), (&nowhere, "no-such-host")] {
        admin
            .put(
                &format!("/v2.0/ports/{port}"),
                json!({"port": {"binding:host_id": host}}),
            )
            .await
            .expect(200);
    }
    admin.wait_for_outbox_drained().await;
    let warned = |port: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .any(|line| line.contains("names no chassis") && line.contains(port))
    };
    let deadline = Instant::now() + Duration::from_secs(10);
    while !warned(&nowhere) {
        assert!(Instant::now() < deadline, "no warning about {nowhere}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    ovn.plug_vif(&here, &here_mac);
    let tap_nowhere = ovn.plug_vif(&nowhere, &nowhere_mac);
    ovn.wait_for_claim(&here);
    wait_for_port_status(&admin, &here, "ACTIVE").await;
    assert!(!warned(&here), "{here} is bound to this chassis");
    let binding = ovn.binding(&nowhere).expect("the port's binding");
    assert_eq!(binding.chassis, None, "{tap_nowhere} claimed elsewhere");
    let metrics = reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("text");
    assert!(
        metrics.contains("trunkd_dependency_up{dependency=\"ovn_sb\"} 1"),
        "{metrics}"
    );
}

/// A trunk of many subports (1,000; `TRUNKD_TEST_BIG_TRUNK` sets another count, up to 4,094)
/// goes ACTIVE once its parent's VIF is plugged: ovn-controller claims the parent and every
/// subport with it, and every subport is ACTIVE in the API. The time from the plug to the
/// parent ACTIVE, to every port up in the southbound database (OVN's part) and to the trunk
/// ACTIVE is printed for the report; nothing about it is asserted beyond a generous
/// limit. (On a 2-core machine with a userspace switch, OVN's part grows faster than the
/// count: 6 s for 1,000 subports, 29 s for 2,000, over 600 s for 4,094, so CI runs 1,000.)
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_big_trunk_goes_active_after_its_parents_vif() {
    let Some(ovn) = Ovn::start("a_big_trunk_goes_active") else {
        return;
    };
    let count: usize = std::env::var("TRUNKD_TEST_BIG_TRUNK")
        .ok()
        .and_then(|n| n.parse().ok())
        .unwrap_or(1000)
        .clamp(1, 4094);
    let server = start_with(&ovn, &["--port-quota", "-1"]);
    let admin = server.admin();
    let network = admin.network(json!({"name": "big"})).await;
    let (parent, parent_mac) = port(&admin, &network).await;
    let mut subports = Vec::with_capacity(count);
    while subports.len() < count {
        let batch = (count - subports.len()).min(1000);
        let body = admin
            .post(
                "/v2.0/ports",
                json!({"ports": (0..batch).map(|_| json!({"network_id": network})).collect::<Vec<_>>()}),
            )
            .await
            .expect(201);
        subports.extend(
            body["ports"]
                .as_array()
                .expect("ports")
                .iter()
                .map(|p| p["id"].as_str().expect("id").to_string()),
        );
    }
    let sub_ports: Vec<Value> = subports
        .iter()
        .enumerate()
        .map(|(i, port)| vlan(port, i as i64 + 1))
        .collect();
    let trunk = admin.trunk(&parent, json!(sub_ports)).await;
    bind_to_chassis(&admin, &ovn, &parent).await;
    admin.wait_for_outbox_drained().await;
    ovn.wait(
        Duration::from_secs(300),
        "the subports' bindings in SB",
        |ovn| {
            ovn.sbctl(&[
                "--bare",
                "--columns=logical_port",
                "find",
                "Port_Binding",
                "type=\"\"",
            ])
            .lines()
            .filter(|l| !l.trim().is_empty())
            .count()
                > count
        },
    );

    let plugged = Instant::now();
    ovn.plug_vif(&parent, &parent_mac);
    let shown = |path: String| {
        let admin = admin.clone();
        async move { admin.get(&path).await.expect(200) }
    };
    let mut parent_active = None;
    // When OVN itself had every port up (SB Port_Binding `up`), to tell its time from ours.
    let mut all_up_in_sb = None;
    let up_in_sb = || {
        ovn.sbctl(&[
            "--bare",
            "--columns=logical_port",
            "find",
            "Port_Binding",
            "up=true",
        ])
        .lines()
        .filter(|l| !l.trim().is_empty())
        .count()
    };
    let mut polls = 0_u32;
    loop {
        polls += 1;
        if parent_active.is_none()
            && shown(format!("/v2.0/ports/{parent}?fields=status")).await["port"]["status"]
                == "ACTIVE"
        {
            parent_active = Some(plugged.elapsed());
        }
        if all_up_in_sb.is_none() && polls % 10 == 0 && up_in_sb() > count {
            all_up_in_sb = Some(plugged.elapsed());
        }
        let now = shown(format!("/v2.0/trunks/{trunk}?fields=status")).await;
        if now["trunk"]["status"] == "ACTIVE" {
            break;
        }
        assert!(
            plugged.elapsed() < Duration::from_secs(600),
            "trunk of {count} subports not ACTIVE 600 s after its parent's VIF \
             (ports up in SB: {}): {now}",
            up_in_sb()
        );
        tokio::time::sleep(Duration::from_millis(20)).await;
    }
    let trunk_active = plugged.elapsed();
    let whole = shown(format!("/v2.0/trunks/{trunk}")).await;
    let statuses = whole["trunk"]["sub_ports_status"]
        .as_array()
        .expect("statuses");
    assert_eq!(statuses.len(), count);
    assert!(statuses.iter().all(|s| s["status"] == "ACTIVE"));
    println!(
        "trunk of {count} subports, after the parent's VIF was plugged: parent ACTIVE {:?}, \
         every port up in SB by {:?}, trunk ACTIVE {trunk_active:?}",
        parent_active.unwrap_or(trunk_active),
        all_up_in_sb.unwrap_or(trunk_active)
    );
}
