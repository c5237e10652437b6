//! The `ovn` driver against a real OVN northbound database (ovsdb-server started by the
//! harness): what networks, ports and trunks become in the database, one NB transaction per
//! API operation even for 4,094 subports, catching up after the database was down, harmless
//! re-delivery of old events, the reconciler repairing hand-made drift, `/readyz` naming
//! the northbound database while it is down, the DHCP_Options rows of IPv4 and IPv6 DHCP
//! subnets (none for an IPv4 subnet without a gateway), the localnet port of a provider
//! network, a port's `port_security` and `requested-chassis`, and the southbound database as
//! a dependency of its own (`--ovn-sb-connection`).

use crate::common;
use crate::nbdb;
use crate::readyz;

use std::time::Duration;

use common::answers::answers_are_final_under_concurrency;
use common::kit::wait_for;
use common::{vlan, Server};
use nbdb::NbDatabase;
use serde_json::{json, Value};

const PORT: &str = "Logical_Switch_Port";
const DHCP: &str = "DHCP_Options";

fn start(nb: &NbDatabase, extra: &[&str]) -> Server {
    let connection = nb.connection();
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

/// Updates a subnet and waits until the drivers have the change.
async fn update_subnet(admin: &common::Client, subnet: &str, body: Value) {
    admin
        .put(&format!("/v2.0/subnets/{subnet}"), body)
        .await
        .expect(200);
    admin.wait_for_outbox_drained().await;
}

/// `ovn-nbctl get` of an optional column: `None` for an empty set.
fn optional(nb: &NbDatabase, record: &str, column: &str) -> Option<String> {
    let value = nb.get(PORT, record, column);
    (value != "[]").then(|| value.trim_matches('"').to_string())
}

fn revision_recorded(nb: &NbDatabase, record: &str) -> String {
    nb.get(PORT, record, "external_ids:\"trunkd:revision_number\"")
        .trim_matches('"')
        .to_string()
}

fn wait_for_port_rows(nb: &NbDatabase, count: usize) {
    wait_for(Duration::from_secs(120), "port rows", || {
        (nb.names(PORT).len() == count).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn networks_ports_and_trunks_become_northbound_rows() {
    let Some(nb) = NbDatabase::start("networks_ports_and_trunks_become_northbound_rows") else {
        return;
    };
    let server = start(&nb, &[]);
    let admin = server.admin();
    let network = admin.network(json!({"name": "blue"})).await;
    admin
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": "10.0.0.0/24"}}),
        )
        .await
        .expect(201);
    let parent = admin
        .port(
            &network,
            json!({"mac_address": "fa:16:3e:00:00:01",
            "fixed_ips": [{"ip_address": "10.0.0.5"}]}),
        )
        .await;
    let subs = admin.ports(&network, 2).await;
    let trunk = admin
        .trunk(&parent, json!([vlan(&subs[0], 101), vlan(&subs[1], 102)]))
        .await;
    admin.wait_for_outbox_drained().await;

    let switch = format!("neutron-{network}");
    assert_eq!(nb.names("Logical_Switch"), vec![switch.clone()]);
    assert_eq!(
        nb.get(
            "Logical_Switch",
            &switch,
            "external_ids:\"trunkd:network_name\""
        ),
        "blue"
    );
    assert_eq!(
        nb.get(PORT, &parent, "addresses"),
        "[\"fa:16:3e:00:00:01 10.0.0.5\"]"
    );
    assert_eq!(optional(&nb, &parent, "parent_name"), None);
    for (sub, tag) in [(&subs[0], "101"), (&subs[1], "102")] {
        assert_eq!(
            optional(&nb, sub, "parent_name").as_deref(),
            Some(parent.as_str())
        );
        assert_eq!(optional(&nb, sub, "tag").as_deref(), Some(tag));
        let port = admin.get(&format!("/v2.0/ports/{sub}")).await.expect(200);
        assert_eq!(
            revision_recorded(&nb, sub),
            port["port"]["revision_number"].to_string(),
            "the row records the revision it reflects"
        );
        assert_eq!(
            nb.get(PORT, sub, "external_ids:\"trunkd:trunk_id\"")
                .trim_matches('"'),
            trunk
        );
    }

    // Removing a subport clears its parent and tag; the other one stays.
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": subs[1]}]}),
        )
        .await
        .expect(200);
    admin.wait_for_outbox_drained().await;
    assert_eq!(optional(&nb, &subs[1], "parent_name"), None);
    assert_eq!(optional(&nb, &subs[1], "tag"), None);
    assert_eq!(optional(&nb, &subs[0], "tag").as_deref(), Some("101"));

    // Deleting the trunk frees the last subport.
    admin
        .delete(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(204);
    wait_for(Duration::from_secs(15), "subport freed", || {
        optional(&nb, &subs[0], "parent_name")
            .is_none()
            .then_some(())
    });
    assert_eq!(optional(&nb, &subs[0], "tag"), None);

    // Ports and the network go with their rows.
    for port in subs.iter().chain([&parent]) {
        admin
            .delete(&format!("/v2.0/ports/{port}"))
            .await
            .expect(204);
    }
    wait_for_port_rows(&nb, 0);
    admin
        .delete(&format!("/v2.0/networks/{network}"))
        .await
        .expect(204);
    wait_for(Duration::from_secs(15), "switch deleted", || {
        nb.names("Logical_Switch").is_empty().then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn subports_of_a_non_vlan_segmentation_are_refused_before_commit() {
    let Some(nb) = NbDatabase::start("subports_of_a_non_vlan_segmentation") else {
        return;
    };
    let server = start(&nb, &[]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let vxlan = admin
        .network(json!({"provider:network_type": "vxlan", "provider:segmentation_id": 5000}))
        .await;
    let parent = admin.port(&network, json!({})).await;
    let sub = admin.port(&vxlan, json!({})).await;
    let refused = admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parent,
                "sub_ports": [{"port_id": sub, "segmentation_type": "inherit"}]}}),
        )
        .await
        .expect_error(409, "TrunkDriverRefused");
    assert!(
        refused.message().contains("VLAN IDs 1-4094"),
        "{}",
        refused.message()
    );
    let trunks = admin.get("/v2.0/trunks").await.expect(200);
    assert_eq!(trunks["trunks"], json!([]));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn adding_and_removing_4094_subports_is_one_transaction_each() {
    let Some(nb) = NbDatabase::start("adding_and_removing_4094_subports") else {
        return;
    };
    // No periodic reconciliation in the middle: the transactions counted are the events'.
    // 4,095 ports in one project: beyond the default port quota.
    let server = start(
        &nb,
        &["--ovn-reconcile-interval", "3600", "--port-quota", "-1"],
    );
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin.port(&network, json!({})).await;
    let mut subs = Vec::new();
    for batch in [1024, 1024, 1024, 1022] {
        subs.extend(admin.ports(&network, batch).await);
    }
    let trunk = admin.trunk(&parent, json!([])).await;
    // The trunk's event queues behind the 4,094 port creations.
    admin.wait_for_outbox_drained().await;
    admin.wait_for_outbox_drained().await;
    wait_for_port_rows(&nb, 4095);

    let before = nb.transactions().len();
    let sub_ports: Vec<Value> = subs
        .iter()
        .enumerate()
        .map(|(i, port)| vlan(port, i as i64 + 1))
        .collect();
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({ "sub_ports": sub_ports }),
        )
        .await
        .expect(200);
    admin.wait_for_outbox_drained().await;
    let after = nb.transactions();
    let added = &after[before..];
    assert_eq!(added.len(), 1, "one NB transaction: {added:?}");
    assert!(added[0].contains("subports_added"), "{added:?}");
    let tagged = nb.nbctl(&[
        "--bare",
        "--columns=tag",
        "find",
        PORT,
        &format!("parent_name={parent}"),
    ]);
    let mut tags: Vec<i64> = tagged
        .lines()
        .filter_map(|l| l.trim().parse().ok())
        .collect();
    tags.sort_unstable();
    assert_eq!(tags, (1..=4094).collect::<Vec<i64>>());
    assert_eq!(optional(&nb, &subs[4093], "tag").as_deref(), Some("4094"));

    let before = nb.transactions().len();
    let all: Vec<Value> = subs.iter().map(|p| json!({"port_id": p})).collect();
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({ "sub_ports": all }),
        )
        .await
        .expect(200);
    admin.wait_for_outbox_drained().await;
    let after = nb.transactions();
    let removed = &after[before..];
    assert_eq!(removed.len(), 1, "one NB transaction: {removed:?}");
    assert!(removed[0].contains("subports_removed"), "{removed:?}");
    let still = nb.nbctl(&[
        "--bare",
        "--columns=name",
        "find",
        PORT,
        &format!("parent_name={parent}"),
    ]);
    assert_eq!(still, "", "no subport row keeps the parent");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn events_wait_while_the_database_is_down_and_catch_up() {
    let Some(mut nb) = NbDatabase::start("events_wait_while_the_database_is_down") else {
        return;
    };
    let server = start(&nb, &["--driver-wait", "1"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin.port(&network, json!({})).await;
    let sub = admin.port(&network, json!({})).await;
    admin.wait_for_outbox_drained().await;
    wait_for_port_rows(&nb, 2);
    let ready = readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    assert_eq!(ready, json!({"status": "ready", "drivers": ["ovn"]}));

    nb.down();
    let (not_ready, slowest) =
        readyz::until_down(&server.base, "ovn", Duration::from_secs(10)).await;
    assert_eq!(
        not_ready["dependencies"],
        json!({"ovn": "down"}),
        "{not_ready}"
    );
    println!("NB database stopped: slowest /readyz {slowest:?}");
    // The create waits for the driver at most --driver-wait (1 s here), then answers with what
    // it committed; the outbox carries on.
    let started = std::time::Instant::now();
    let created = admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {"port_id": parent, "sub_ports": [vlan(&sub, 42)]}}),
        )
        .await
        .expect(201);
    let waited = started.elapsed();
    assert!(
        waited >= Duration::from_millis(900) && waited < Duration::from_secs(4),
        "waited {waited:?}"
    );
    assert_eq!(created["trunk"]["status"], "DOWN");
    assert_eq!(created["trunk"]["revision_number"], 0);
    let trunk = created["trunk"]["id"].as_str().expect("id").to_string();
    tokio::time::sleep(Duration::from_secs(1)).await;
    let shown = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(
        shown["trunk"]["status"], "DOWN",
        "nothing is wired while NB is down"
    );

    nb.up();
    admin.wait_for_outbox_drained().await;
    readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    assert_eq!(
        optional(&nb, &sub, "parent_name").as_deref(),
        Some(parent.as_str())
    );
    assert_eq!(optional(&nb, &sub, "tag").as_deref(), Some("42"));
}

/// `/metrics` as text.
async fn metrics_text(server: &Server) -> String {
    reqwest::get(format!("{}/metrics", server.base))
        .await
        .expect("metrics")
        .text()
        .await
        .expect("metrics text")
}

fn assert_dependency(metrics: &str, dependency: &str, up: u8) {
    let line = format!("trunkd_dependency_up{{dependency=\"{dependency}\"}} {up}");
    assert!(metrics.contains(&line), "no `{line}` in {metrics}");
}

/// `dependency`'s connection is in `state` and came back `reconnects` times.
fn assert_connection(metrics: &str, dependency: &str, state: &str, reconnects: u8) {
    let lines = [
        format!("trunkd_dependency_state{{dependency=\"{dependency}\",state=\"{state}\"}} 1"),
        format!("trunkd_dependency_reconnects_total{{dependency=\"{dependency}\"}} {reconnects}"),
    ];
    for line in lines {
        assert!(metrics.contains(&line), "no `{line}` in {metrics}");
    }
}

/// With `--ovn-sb-connection` (issue 19, item 4) the southbound session is the dependency
/// `ovn_sb` beside NB's `ovn`: `/readyz` names it while its server is down, `/metrics` shows
/// it down, and both recover when the server is back. Its `Chassis` table is followed: a port
/// bound to a host no chassis answers to is warned about in the log, a port bound to a known
/// chassis's hostname is not.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_southbound_database_is_a_dependency_of_its_own() {
    let test = "the_southbound_database_is_a_dependency_of_its_own";
    let Some(nb) = NbDatabase::start(test) else {
        return;
    };
    let Some(mut sb) = NbDatabase::start_southbound(test) else {
        return;
    };
    // A chassis as ovn-controller would register it, known by its hostname.
    sb.sbctl(&["chassis-add", "chassis-1", "geneve", "127.0.0.1"]);
    sb.sbctl(&["set", "Chassis", "chassis-1", "hostname=compute-1"]);
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log = log_dir.path().join("trunkd.log");
    let (nb_connection, sb_connection) = (nb.connection(), sb.connection());
    let server = Server::start_logged(
        &[
            "--noauth-default-admin",
            "--driver",
            "ovn",
            "--ovn-nb-connection",
            &nb_connection,
            "--ovn-sb-connection",
            &sb_connection,
        ],
        &log,
    );
    let ready = readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    assert_eq!(ready, json!({"status": "ready", "drivers": ["ovn"]}));
    let metrics = metrics_text(&server).await;
    assert_dependency(&metrics, "ovn", 1);
    assert_dependency(&metrics, "ovn_sb", 1);
    for task in ["ovn-sb-connection", "ovn-chassis"] {
        let line = format!("trunkd_task_up{{task=\"{task}\"}} 1");
        assert!(metrics.contains(&line), "no `{line}` in {metrics}");
    }

    // Ports bound to the known host and to one no chassis answers to.
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let known = admin.port(&network, json!({})).await;
    let typo = admin.port(&network, json!({})).await;
    for (port, host) in [(&known, "compute-1"), (&typo, "compute-l")] {
        admin
            .put(
                &format!("/v2.0/ports/{port}"),
                json!({"port": {"binding:host_id": host}}),
            )
            .await
            .expect(200);
    }
    admin.wait_for_outbox_drained().await;
    let warning = "names no chassis in the OVN southbound database";
    let warned = |port: &str| {
        std::fs::read_to_string(&log)
            .unwrap_or_default()
            .lines()
            .filter(|line| line.contains(warning) && line.contains(port))
            .count()
    };
    wait_for(
        Duration::from_secs(10),
        "the unknown chassis warning",
        || (warned(&typo) > 0).then_some(()),
    );
    assert_eq!(warned(&typo), 1, "warned once");
    assert_eq!(warned(&known), 0, "compute-1 is a chassis' hostname");

    // SB goes: not ready, naming ovn_sb only (NB is still up).
    sb.down();
    let (not_ready, slowest) =
        readyz::until_down(&server.base, "ovn_sb", Duration::from_secs(10)).await;
    assert_eq!(
        not_ready["dependencies"],
        json!({"ovn_sb": "down"}),
        "{not_ready}"
    );
    println!("SB database stopped: slowest /readyz {slowest:?}");
    let metrics = metrics_text(&server).await;
    assert_dependency(&metrics, "ovn_sb", 0);
    assert_dependency(&metrics, "ovn", 1);
    assert_connection(&metrics, "ovn_sb", "failed", 0);
    // The API carries on without SB.
    admin.network(json!({})).await;

    // SB is back: ready again; the warning is not repeated on the new snapshot.
    sb.up();
    readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    let metrics = metrics_text(&server).await;
    assert_dependency(&metrics, "ovn_sb", 1);
    assert_connection(&metrics, "ovn_sb", "connected", 1);
    assert_connection(&metrics, "ovn", "connected", 0);
    assert_eq!(warned(&typo), 1, "not warned again after the reconnection");
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_wait_for_the_northbound_transaction() {
    let Some(nb) = NbDatabase::start("answers_wait_for_the_northbound_transaction") else {
        return;
    };
    let server = start(&nb, &[]);
    // As Neutron's OVN driver, whose answers come after its NB write. DOWN: no chassis has
    // claimed the ports, and the status follows the ports.
    answers_are_final_under_concurrency(&server, "DOWN").await;
    // The answer came after the northbound transaction: the rows are there at once.
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let ports = admin.ports(&network, 2).await;
    admin.trunk(&ports[0], json!([vlan(&ports[1], 33)])).await;
    assert_eq!(
        optional(&nb, &ports[1], "parent_name").as_deref(),
        Some(ports[0].as_str())
    );
    assert_eq!(optional(&nb, &ports[1], "tag").as_deref(), Some("33"));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_down_database_costs_one_outbox_row_per_trunk() {
    let Some(mut nb) = NbDatabase::start("a_down_database_costs_one_outbox_row_per_trunk") else {
        return;
    };
    let server = start(&nb, &["--driver-wait", "0"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin.port(&network, json!({})).await;
    let first = admin.ports(&network, 3).await;
    let churn = admin.ports(&network, 10).await;
    let last = admin.ports(&network, 2).await;
    let vlans = |ports: &[String], base: i64| -> Value {
        ports
            .iter()
            .enumerate()
            .map(|(i, p)| vlan(p, base + i as i64))
            .collect()
    };
    let trunk = admin.trunk(&parent, vlans(&first, 100)).await;
    admin.wait_for_outbox_drained().await;
    assert_eq!(
        optional(&nb, &first[0], "parent_name").as_deref(),
        Some(parent.as_str())
    );

    // The data plane goes away; the trunk keeps changing: 42 changes.
    nb.down();
    let path = |action: &str| format!("/v2.0/trunks/{trunk}/{action}");
    let removing = |ports: &[String]| -> Value {
        json!({"sub_ports": ports.iter().map(|p| json!({"port_id": p})).collect::<Vec<_>>()})
    };
    admin
        .put(&path("remove_subports"), removing(&first))
        .await
        .expect(200);
    for round in 0..20 {
        admin
            .put(
                &path("add_subports"),
                json!({"sub_ports": vlans(&churn, 200 + round)}),
            )
            .await
            .expect(200);
        admin
            .put(&path("remove_subports"), removing(&churn))
            .await
            .expect(200);
    }
    admin
        .put(
            &path("add_subports"),
            json!({"sub_ports": vlans(&last, 300)}),
        )
        .await
        .expect(200);
    // Each change appended a row; waiting for its retry, the trunk's rows are folded into one.
    let deadline = tokio::time::Instant::now() + Duration::from_secs(15);
    loop {
        let pending = admin.pending_events().await;
        if pending == 1.0 {
            break;
        }
        assert!(
            tokio::time::Instant::now() < deadline,
            "{pending} outbox rows pending: the trunk's undelivered events are not folded into one"
        );
        tokio::time::sleep(Duration::from_millis(100)).await;
    }

    // Back: the one event wires the last subports and unwires the first ones, which left the
    // trunk while the database was away and are named only by the folded event.
    nb.up();
    admin.wait_for_outbox_drained().await;
    admin.wait_for_outbox_drained().await;
    for port in &last {
        assert_eq!(
            optional(&nb, port, "parent_name").as_deref(),
            Some(parent.as_str())
        );
    }
    for port in first.iter().chain(&churn) {
        assert_eq!(
            optional(&nb, port, "parent_name"),
            None,
            "{port} still a subport"
        );
    }
    assert_eq!(optional(&nb, &last[1], "tag").as_deref(), Some("301"));
}

/// Marks every delivered outbox event as pending again, so the driver receives each one a
/// second time, including events older than the state they would describe.
async fn redeliver_everything(server: &Server) {
    server
        .database_location()
        .execute("UPDATE outbox SET delivered_at = NULL, attempts = 0, next_attempt_ms = 0")
        .await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn old_events_delivered_again_change_nothing() {
    let Some(nb) = NbDatabase::start("old_events_delivered_again_change_nothing") else {
        return;
    };
    let server = start(&nb, &[]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin.port(&network, json!({})).await;
    let subs = admin.ports(&network, 2).await;
    let trunk = admin
        .trunk(&parent, json!([vlan(&subs[0], 10), vlan(&subs[1], 20)]))
        .await;
    admin.wait_for_outbox_drained().await;
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": subs[1]}]}),
        )
        .await
        .expect(200);
    admin.wait_for_outbox_drained().await;
    let settled = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    let before = nb.transactions().len();

    // The "created" event still lists subs[1] as a subport; it must not put it back.
    redeliver_everything(&server).await;
    tokio::time::sleep(Duration::from_millis(200)).await;
    admin.wait_for_outbox_drained().await;
    assert_eq!(nb.transactions().len(), before, "re-delivery wrote nothing");
    assert_eq!(optional(&nb, &subs[1], "parent_name"), None);
    assert_eq!(optional(&nb, &subs[0], "tag").as_deref(), Some("10"));
    let now = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(
        now["trunk"], settled,
        "re-delivery changed nothing in the store either"
    );
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_reconciler_repairs_hand_made_drift_and_logs_it() {
    let Some(nb) = NbDatabase::start("the_reconciler_repairs_hand_made_drift") else {
        return;
    };
    let log_dir = tempfile::tempdir().expect("temp dir");
    let log = log_dir.path().join("trunkd.log");
    let connection = nb.connection();
    let server = Server::start_logged(
        &[
            "--noauth-default-admin",
            "--driver",
            "ovn",
            "--ovn-nb-connection",
            &connection,
            "--ovn-reconcile-interval",
            "1",
        ],
        &log,
    );
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin.port(&network, json!({})).await;
    let subs = admin.ports(&network, 2).await;
    admin
        .trunk(&parent, json!([vlan(&subs[0], 101), vlan(&subs[1], 102)]))
        .await;
    admin.wait_for_outbox_drained().await;

    // An operator edits one subport, deletes another, and a stale row claims to be trunkd's;
    // a row nobody in trunkd wrote must be left alone.
    let switch = format!("neutron-{network}");
    let stale = "00000000-0000-4000-8000-00000000dead";
    nb.nbctl(&["set", PORT, &subs[0], "tag=7", "parent_name=somebody"]);
    nb.nbctl(&["lsp-del", &subs[1]]);
    nb.nbctl(&[
        "lsp-add",
        &switch,
        stale,
        "--",
        "set",
        PORT,
        stale,
        "external_ids:\"trunkd:revision_number\"=1",
    ]);
    // Named like a port id, so only the missing trunkd keys tell it apart.
    let foreign = "00000000-0000-4000-8000-0000000f0e19";
    nb.nbctl(&["lsp-add", &switch, foreign]);

    wait_for(Duration::from_secs(20), "the reconciler's repairs", || {
        let names = nb.names(PORT);
        let repaired = optional(&nb, &subs[0], "tag").as_deref() == Some("101")
            && names.contains(&subs[1])
            && !names.contains(&stale.to_string());
        repaired.then_some(())
    });
    assert_eq!(
        optional(&nb, &subs[0], "parent_name").as_deref(),
        Some(parent.as_str())
    );
    assert_eq!(optional(&nb, &subs[1], "tag").as_deref(), Some("102"));
    assert!(nb.names(PORT).contains(&foreign.to_string()));

    let text = std::fs::read_to_string(&log).expect("log");
    for expected in [
        format!("update Logical_Switch_Port {} (parent_name, tag)", subs[0]),
        format!("create Logical_Switch_Port {}", subs[1]),
        format!("delete Logical_Switch_Port {stale}"),
    ] {
        assert!(text.contains(&expected), "log lacks {expected:?}:\n{text}");
    }
}

/// The uuid of the DHCP_Options row trunkd wrote for `subnet`, if there is one.
fn dhcp_row(nb: &NbDatabase, subnet: &str) -> Option<String> {
    let found = nb.nbctl(&[
        "--bare",
        "--columns=_uuid",
        "find",
        DHCP,
        &format!("external_ids:\"trunkd:subnet_id\"={subnet}"),
    ]);
    let uuid = found.trim();
    (!uuid.is_empty()).then(|| uuid.to_string())
}

/// One of a DHCP_Options row's options (`ovn-nbctl get` fails on a missing key).
fn dhcp_option(nb: &NbDatabase, row: &str, option: &str) -> Option<String> {
    let options = nb.nbctl(&["--bare", "--columns=options", "list", DHCP, row]);
    options.contains(&format!("{option}=")).then(|| {
        nb.get(DHCP, row, &format!("options:{option}"))
            .trim_matches('"')
            .to_string()
    })
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_dhcp_subnet_becomes_a_dhcp_options_row_its_ports_refer_to() {
    let Some(nb) = NbDatabase::start("a_dhcp_subnet_becomes_a_dhcp_options_row") else {
        return;
    };
    let server = start(&nb, &["--ovn-reconcile-interval", "1"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let mtu = admin
        .get(&format!("/v2.0/networks/{network}"))
        .await
        .expect(200)["network"]["mtu"]
        .to_string();
    let subnet = admin
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": "10.9.0.0/24",
                "gateway_ip": "10.9.0.1", "dns_nameservers": ["8.8.8.8", "1.1.1.1"]}}),
        )
        .await
        .expect(201)["subnet"]["id"]
        .as_str()
        .expect("subnet id")
        .to_string();
    let port = admin
        .port(&network, json!({"fixed_ips": [{"ip_address": "10.9.0.5"}]}))
        .await;
    let other = admin.port(&network, json!({"fixed_ips": []})).await;
    admin.wait_for_outbox_drained().await;

    let row = dhcp_row(&nb, &subnet).expect("a DHCP_Options row for the subnet");
    assert_eq!(nb.get(DHCP, &row, "cidr").trim_matches('"'), "10.9.0.0/24");
    for (option, expected) in [
        ("server_id", "10.9.0.1"),
        ("router", "10.9.0.1"),
        ("lease_time", "43200"),
        ("dns_server", "{8.8.8.8, 1.1.1.1}"),
        ("mtu", mtu.as_str()),
    ] {
        assert_eq!(dhcp_option(&nb, &row, option).as_deref(), Some(expected));
    }
    let server_mac = dhcp_option(&nb, &row, "server_mac").unwrap_or_default();
    assert!(server_mac.starts_with("fa:16:3e:"), "{server_mac}");
    assert_eq!(
        nb.get(DHCP, &row, "external_ids:\"trunkd:network_id\"")
            .trim_matches('"'),
        network
    );
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), Some(row.clone()));
    assert_eq!(
        optional(&nb, &other, "dhcpv4_options"),
        None,
        "no address on the subnet"
    );

    // New DNS servers change the options in place.
    update_subnet(
        &admin,
        &subnet,
        json!({"subnet": {"dns_nameservers": ["9.9.9.9"]}}),
    )
    .await;
    assert_eq!(dhcp_row(&nb, &subnet).as_deref(), Some(row.as_str()));
    assert_eq!(
        dhcp_option(&nb, &row, "dns_server").as_deref(),
        Some("{9.9.9.9}")
    );

    // A row deleted by hand comes back, and the port refers to the new one.
    nb.nbctl(&["destroy", DHCP, &row]);
    let repaired = wait_for(Duration::from_secs(20), "the reconciler's repair", || {
        let new = dhcp_row(&nb, &subnet)?;
        (optional(&nb, &port, "dhcpv4_options").as_deref() == Some(new.as_str())).then_some(new)
    });
    assert_ne!(repaired, row);

    // DHCP off: the row goes and the port refers to nothing.
    update_subnet(&admin, &subnet, json!({"subnet": {"enable_dhcp": false}})).await;
    assert_eq!(dhcp_row(&nb, &subnet), None);
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), None);

    // On again, then the subnet deleted: gone again.
    update_subnet(&admin, &subnet, json!({"subnet": {"enable_dhcp": true}})).await;
    let row = dhcp_row(&nb, &subnet).expect("the row again");
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), Some(row));
    // The port gives its address back (a subnet in use cannot go), then the subnet goes.
    admin
        .put(
            &format!("/v2.0/ports/{port}"),
            json!({"port": {"fixed_ips": []}}),
        )
        .await
        .expect(200);
    admin
        .delete(&format!("/v2.0/subnets/{subnet}"))
        .await
        .expect(204);
    admin.wait_for_outbox_drained().await;
    assert_eq!(dhcp_row(&nb, &subnet), None);
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), None);
    assert!(nb
        .nbctl(&["--bare", "--columns=_uuid", "list", DHCP])
        .is_empty());
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn an_ipv6_dhcp_subnet_is_served_and_a_gatewayless_ipv4_one_is_not() {
    let Some(nb) = NbDatabase::start("an_ipv6_dhcp_subnet_is_served") else {
        return;
    };
    let server = start(&nb, &["--ovn-reconcile-interval", "1"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let v6 = admin
        .subnet(
            &network,
            json!({"ip_version": 6, "cidr": "2001:db8::/64", "ipv6_address_mode": "dhcpv6-stateful",
            "dns_nameservers": ["2001:db8::53", "8.8.8.8"]}),
        )
        .await;
    let v4 = admin
        .subnet(
            &network,
            json!({"ip_version": 4, "cidr": "10.8.0.0/24", "gateway_ip": null,
            "allocation_pools": [{"start": "10.8.0.10", "end": "10.8.0.200"}]}),
        )
        .await;
    let slaac = admin
        .subnet(
            &network,
            json!({"ip_version": 6, "cidr": "2001:db8:1::/64", "ipv6_address_mode": "slaac",
            "ipv6_ra_mode": "slaac"}),
        )
        .await;
    let port = admin
        .port(
            &network,
            json!({"fixed_ips": [
                {"subnet_id": v4, "ip_address": "10.8.0.5"},
                {"subnet_id": v6, "ip_address": "2001:db8::5"},
            ]}),
        )
        .await;
    let slaac_port = admin
        .port(&network, json!({"fixed_ips": [{"subnet_id": slaac}]}))
        .await;
    admin.wait_for_outbox_drained().await;

    let row = dhcp_row(&nb, &v6).expect("a DHCP_Options row for the IPv6 subnet");
    assert_eq!(
        nb.get(DHCP, &row, "cidr").trim_matches('"'),
        "2001:db8::/64"
    );
    let server_mac = trunkd::drivers::ovn::rows::server_mac(v6.parse().expect("subnet id"));
    assert_eq!(
        dhcp_option(&nb, &row, "server_id").as_deref(),
        Some(server_mac.as_str())
    );
    assert_eq!(
        dhcp_option(&nb, &row, "dns_server").as_deref(),
        Some("{2001:db8::53}"),
        "IPv6 name servers only"
    );
    for absent in ["dhcpv6_stateless", "router", "lease_time"] {
        assert_eq!(dhcp_option(&nb, &row, absent), None, "{absent}");
    }
    assert_eq!(
        nb.get(DHCP, &row, "external_ids:\"trunkd:network_id\"")
            .trim_matches('"'),
        network
    );
    assert_eq!(optional(&nb, &port, "dhcpv6_options"), Some(row.clone()));
    assert_eq!(dhcp_row(&nb, &v4), None, "no gateway, no DHCPv4");
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), None);
    assert_eq!(dhcp_row(&nb, &slaac), None, "SLAAC needs no DHCPv6");
    assert_eq!(optional(&nb, &slaac_port, "dhcpv6_options"), None);

    // A reference cleared by hand comes back.
    nb.nbctl(&["clear", PORT, &port, "dhcpv6_options"]);
    wait_for(Duration::from_secs(20), "the reconciler's repair", || {
        (optional(&nb, &port, "dhcpv6_options").as_deref() == Some(row.as_str())).then_some(())
    });

    // A gateway for the IPv4 subnet brings its row; the IPv6 reference stays.
    update_subnet(&admin, &v4, json!({"subnet": {"gateway_ip": "10.8.0.1"}})).await;
    let v4_row = dhcp_row(&nb, &v4).expect("a DHCPv4 row once there is a gateway");
    assert_eq!(
        dhcp_option(&nb, &v4_row, "server_id").as_deref(),
        Some("10.8.0.1")
    );
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), Some(v4_row));
    assert_eq!(optional(&nb, &port, "dhcpv6_options"), Some(row.clone()));

    // Without it again, the row goes.
    update_subnet(&admin, &v4, json!({"subnet": {"gateway_ip": null}})).await;
    assert_eq!(dhcp_row(&nb, &v4), None);
    assert_eq!(optional(&nb, &port, "dhcpv4_options"), None);

    // DHCP off for the IPv6 subnet: its row goes and the port refers to nothing.
    update_subnet(&admin, &v6, json!({"subnet": {"enable_dhcp": false}})).await;
    assert_eq!(dhcp_row(&nb, &v6), None);
    assert_eq!(optional(&nb, &port, "dhcpv6_options"), None);
    assert!(nb
        .nbctl(&["--bare", "--columns=_uuid", "list", DHCP])
        .is_empty());
}

/// One key of a port row's `options` (`ovn-nbctl get` fails on a missing key).
fn port_option(nb: &NbDatabase, record: &str, key: &str) -> Option<String> {
    let options = nb.nbctl(&["--bare", "--columns=options", "list", PORT, record]);
    options
        .split_whitespace()
        .find_map(|pair| pair.strip_prefix(&format!("{key}=")))
        .map(|value| value.trim_matches('"').to_string())
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_provider_network_has_a_localnet_port_the_reconciler_keeps() {
    let Some(nb) = NbDatabase::start("a_provider_network_has_a_localnet_port") else {
        return;
    };
    let server = start(&nb, &["--ovn-reconcile-interval", "1"]);
    let admin = server.admin();
    let vlan_network = admin
        .network(json!({"provider:network_type": "vlan",
            "provider:physical_network": "physnet1", "provider:segmentation_id": 101}))
        .await;
    let flat_network = admin
        .network(json!({"provider:network_type": "flat",
            "provider:physical_network": "physnet2"}))
        .await;
    let tenant_network = admin.network(json!({})).await;
    admin.wait_for_outbox_drained().await;

    let (vlan, flat) = (
        format!("provnet-{vlan_network}"),
        format!("provnet-{flat_network}"),
    );
    let mut expected = vec![vlan.clone(), flat.clone()];
    expected.sort();
    assert_eq!(
        nb.names(PORT),
        expected,
        "no localnet port on a tenant network"
    );
    assert_eq!(
        nb.nbctl(&["lsp-list", &format!("neutron-{tenant_network}")]),
        ""
    );
    for (localnet, network, physical, tag) in [
        (&vlan, &vlan_network, "physnet1", Some("101")),
        (&flat, &flat_network, "physnet2", None),
    ] {
        assert_eq!(nb.get(PORT, localnet, "type"), "localnet");
        assert_eq!(nb.get(PORT, localnet, "addresses"), "[unknown]");
        assert_eq!(optional(&nb, localnet, "tag").as_deref(), tag);
        assert_eq!(
            port_option(&nb, localnet, "network_name").as_deref(),
            Some(physical)
        );
        assert_eq!(
            nb.get(PORT, localnet, "external_ids:\"trunkd:network_id\"")
                .trim_matches('"'),
            *network
        );
        let on_switch = nb.nbctl(&["lsp-list", &format!("neutron-{network}")]);
        assert!(on_switch.contains(localnet.as_str()), "{on_switch}");
    }

    // An operator retags one and deletes the other: the reconciler puts both back.
    nb.nbctl(&["set", PORT, &vlan, "tag=7"]);
    nb.nbctl(&["lsp-del", &flat]);
    wait_for(Duration::from_secs(20), "the reconciler's repairs", || {
        let repaired =
            optional(&nb, &vlan, "tag").as_deref() == Some("101") && nb.names(PORT).contains(&flat);
        repaired.then_some(())
    });
    assert_eq!(
        port_option(&nb, &flat, "network_name").as_deref(),
        Some("physnet2")
    );
    assert_eq!(optional(&nb, &flat, "tag"), None);

    // The port goes with its network.
    admin
        .delete(&format!("/v2.0/networks/{vlan_network}"))
        .await
        .expect(204);
    admin.wait_for_outbox_drained().await;
    assert_eq!(nb.names(PORT), vec![flat.clone()]);
    assert!(!nb
        .names("Logical_Switch")
        .contains(&format!("neutron-{vlan_network}")));
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_security_follows_the_port_and_is_repaired() {
    let Some(nb) = NbDatabase::start("port_security_follows_the_port") else {
        return;
    };
    let server = start(&nb, &["--ovn-reconcile-interval", "1"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    admin
        .post(
            "/v2.0/subnets",
            json!({"subnet": {"network_id": network, "ip_version": 4, "cidr": "10.0.0.0/24"}}),
        )
        .await
        .expect(201);
    let port = admin
        .port(
            &network,
            json!({"mac_address": "fa:16:3e:00:00:0a",
                "fixed_ips": [{"ip_address": "10.0.0.10"}]}),
        )
        .await;
    admin.wait_for_outbox_drained().await;
    let secured = "[\"fa:16:3e:00:00:0a 10.0.0.10\"]";
    assert_eq!(nb.get(PORT, &port, "addresses"), secured);
    assert_eq!(nb.get(PORT, &port, "port_security"), secured);

    let set_security = |enabled: bool| {
        let admin = &admin;
        let path = format!("/v2.0/ports/{port}");
        async move {
            admin
                .put(&path, json!({"port": {"port_security_enabled": enabled}}))
                .await
                .expect(200);
            admin.wait_for_outbox_drained().await;
        }
    };
    set_security(false).await;
    assert_eq!(nb.get(PORT, &port, "port_security"), "[]");
    assert_eq!(
        nb.get(PORT, &port, "addresses"),
        "[\"fa:16:3e:00:00:0a 10.0.0.10\", unknown]",
        "the port's addresses, and unknown: it may receive frames for other MACs"
    );

    // On again, then an operator clears it: the reconciler puts it back.
    set_security(true).await;
    assert_eq!(nb.get(PORT, &port, "port_security"), secured);
    nb.nbctl(&["clear", PORT, &port, "port_security"]);
    wait_for(Duration::from_secs(20), "the reconciler's repair", || {
        (nb.get(PORT, &port, "port_security") == secured).then_some(())
    });
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn requested_chassis_follows_the_binding() {
    let Some(nb) = NbDatabase::start("requested_chassis_follows_the_binding") else {
        return;
    };
    let server = start(&nb, &["--ovn-reconcile-interval", "1"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let port = admin.port(&network, json!({})).await;
    admin.wait_for_outbox_drained().await;
    assert_eq!(port_option(&nb, &port, "requested-chassis"), None);

    let bind = |host: &'static str| {
        let admin = &admin;
        let path = format!("/v2.0/ports/{port}");
        async move {
            admin
                .put(&path, json!({"port": {"binding:host_id": host}}))
                .await
                .expect(200);
            admin.wait_for_outbox_drained().await;
        }
    };
    bind("compute-1").await;
    assert_eq!(
        port_option(&nb, &port, "requested-chassis").as_deref(),
        Some("compute-1")
    );

    // An option somebody else owns survives trunkd's writes.
    nb.nbctl(&["set", PORT, &port, "options:mcast_flood_reports=true"]);
    bind("compute-2").await;
    assert_eq!(
        port_option(&nb, &port, "requested-chassis").as_deref(),
        Some("compute-2"),
        "a migration moves the claim"
    );
    // A hand edit is repaired.
    nb.nbctl(&["set", PORT, &port, "options:requested-chassis=elsewhere"]);
    wait_for(Duration::from_secs(20), "the reconciler's repair", || {
        (port_option(&nb, &port, "requested-chassis").as_deref() == Some("compute-2")).then_some(())
    });

    bind("").await;
    assert_eq!(port_option(&nb, &port, "requested-chassis"), None);
    assert_eq!(
        port_option(&nb, &port, "mcast_flood_reports").as_deref(),
        Some("true")
    );
}

/// A port's status is OVN's word on it (issue 19, item 1): DOWN until its Logical_Switch_Port
/// is `up` (here set by hand, as ovn-northd would once ovn-controller claims it), ACTIVE then,
/// DOWN again when `up` is cleared; the revision does not move, and a port that was up when
/// trunkd connected is found up by the monitor's first snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn port_status_follows_the_logical_switch_port_up_column() {
    let Some(nb) = NbDatabase::start("port_status_follows_up") else {
        return;
    };
    let server = start(&nb, &[]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let port = admin.port(&network, json!({})).await;
    let other = admin.port(&network, json!({})).await;
    admin.wait_for_outbox_drained().await;
    let status_of = |body: Value| body["port"]["status"].as_str().unwrap_or("").to_string();
    let created = admin.get(&format!("/v2.0/ports/{port}")).await.expect(200);
    assert_eq!(status_of(created.clone()), "DOWN", "no VIF yet");
    let revision = created["port"]["revision_number"].clone();

    let wait_status = |expected: &'static str| {
        let admin = admin.clone();
        let port = port.clone();
        async move {
            for _ in 0..200 {
                let body = admin.get(&format!("/v2.0/ports/{port}")).await.expect(200);
                if body["port"]["status"] == expected {
                    return body;
                }
                tokio::time::sleep(Duration::from_millis(50)).await;
            }
            panic!("port {port} never became {expected}");
        }
    };
    nb.nbctl(&["set", PORT, &port, "up=true"]);
    let up = wait_status("ACTIVE").await;
    assert_eq!(
        up["port"]["revision_number"], revision,
        "status is not an API change"
    );
    let untouched = admin.get(&format!("/v2.0/ports/{other}")).await.expect(200);
    assert_eq!(status_of(untouched), "DOWN");
    nb.nbctl(&["set", PORT, &port, "up=false"]);
    wait_status("DOWN").await;

    // Up while trunkd is away: the first snapshot after it starts finds it.
    nb.nbctl(&["set", PORT, &other, "up=true"]);
    let kept = server.stop();
    let connection = nb.connection();
    let server = Server::start_in(
        kept,
        &[
            "--noauth-default-admin",
            "--driver",
            "ovn",
            "--ovn-nb-connection",
            &connection,
        ],
    );
    let admin = server.admin();
    for _ in 0..200 {
        let body = admin.get(&format!("/v2.0/ports/{other}")).await.expect(200);
        if body["port"]["status"] == "ACTIVE" {
            return;
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    panic!("the port up before start-up was not found up");
}

/// Two DHCP_Options rows of one subnet (what two writers left before inserts were guarded):
/// the reconciler deletes the second and points the subnet's ports at the one it keeps.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_second_dhcp_row_of_a_subnet_is_removed() {
    let Some(nb) = NbDatabase::start("a_second_dhcp_row_of_a_subnet_is_removed") else {
        return;
    };
    let server = start(&nb, &["--ovn-reconcile-interval", "1"]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let subnet = admin.subnet(&network, json!({"cidr": "10.7.0.0/24"})).await;
    let port = admin.port(&network, json!({})).await;
    admin.wait_for_outbox_drained().await;
    let first = dhcp_row(&nb, &subnet).expect("the subnet's row");
    let revision = nb
        .get(DHCP, &first, "external_ids:\"trunkd:revision_number\"")
        .trim_matches('"')
        .to_string();
    nb.nbctl(&[
        "create",
        DHCP,
        "cidr=10.7.0.0/24",
        &format!("external_ids:\"trunkd:subnet_id\"={subnet}"),
        &format!("external_ids:\"trunkd:network_id\"={network}"),
        &format!("external_ids:\"trunkd:revision_number\"={revision}"),
    ]);
    let rows = |nb: &NbDatabase| {
        nb.nbctl(&[
            "--bare",
            "--columns=_uuid",
            "find",
            DHCP,
            &format!("external_ids:\"trunkd:subnet_id\"={subnet}"),
        ])
        .split_whitespace()
        .map(str::to_string)
        .collect::<Vec<_>>()
    };
    assert_eq!(rows(&nb).len(), 2);
    let kept = wait_for(Duration::from_secs(20), "the second row's removal", || {
        let left = rows(&nb);
        (left.len() == 1).then(|| left[0].clone())
    });
    wait_for(Duration::from_secs(20), "the port on the kept row", || {
        (optional(&nb, &port, "dhcpv4_options").as_deref() == Some(kept.as_str())).then_some(())
    });
    assert_eq!(
        nb.get(DHCP, &kept, "options:server_id").trim_matches('"'),
        "10.7.0.1",
        "the kept row is whole (options repaired if it was the bare copy)"
    );
}

/// What a long-polling subscriber hands the test.
struct Subscribed {
    seen: tokio::sync::mpsc::UnboundedReceiver<Value>,
    revision: i64,
}

impl Subscribed {
    /// The next trunk the subscriber saw: the next revision, with `expected` status.
    async fn next(&mut self, expected: &'static str) -> Value {
        self.revision += 1;
        let trunk = tokio::time::timeout(Duration::from_secs(20), self.seen.recv())
            .await
            .unwrap_or_else(|_| panic!("no change to {expected} seen"))
            .expect("the subscriber runs");
        assert_eq!(
            (trunk["revision_number"].as_i64(), trunk["status"].as_str()),
            (Some(self.revision), Some(expected)),
            "one revision per status change, none skipped: {trunk}"
        );
        trunk
    }
}

/// A trunk's status follows its ports' by the one rule (issue 19, item 2), here with `up` set
/// by hand as ovn-northd sets it once ovn-controller claims a port: DOWN while the parent is
/// not up, DEGRADED while a subport is not, ACTIVE when all are. Each status change moves the
/// revision by one, so a client that long-polls for the next revision after every answer sees
/// every change, in order, with no gap.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_trunk_status_follows_its_ports_and_a_long_poll_sees_every_change() {
    let Some(nb) = NbDatabase::start("trunk_status_follows_ports") else {
        return;
    };
    let server = start(&nb, &[]);
    let admin = server.admin();
    let network = admin.network(json!({})).await;
    let parent = admin
        .port(&network, json!({"binding:host_id": "compute-1"}))
        .await;
    let subs = admin.ports(&network, 2).await;
    let trunk = admin
        .trunk(&parent, json!([vlan(&subs[0], 10), vlan(&subs[1], 20)]))
        .await;
    admin.wait_for_outbox_drained().await;
    let first = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    assert_eq!(first["status"], "DOWN");
    assert_eq!(first["status_reason"]["code"], "parent_down");
    for entry in first["sub_ports_status"].as_array().expect("statuses") {
        assert_eq!(entry["status"], "DOWN");
        assert_eq!(entry["status_reason"]["code"], "parent_down", "{entry}");
    }

    // The subscriber: the next revision after every answer, each one handed to the test.
    let (seen_tx, seen) = tokio::sync::mpsc::unbounded_channel::<Value>();
    let subscriber = {
        let admin = admin.clone();
        let trunk = trunk.clone();
        let mut revision = first["revision_number"].as_i64().expect("revision");
        tokio::spawn(async move {
            loop {
                let body = admin
                    .get(&format!(
                        "/v2.0/trunks/{trunk}?wait_for_revision={}&wait_timeout=20",
                        revision + 1
                    ))
                    .await
                    .expect(200);
                let trunk_now = body["trunk"].clone();
                revision = trunk_now["revision_number"].as_i64().unwrap_or(revision);
                if seen_tx.send(trunk_now).is_err() {
                    return;
                }
            }
        })
    };
    let set_up = |port: &str, up: bool| {
        nb.nbctl(&["set", PORT, port, &format!("up={up}")]);
    };
    let first_revision = first["revision_number"].as_i64().expect("revision");
    // The test takes each step only after the subscriber has seen the last.
    let mut subscribed = Subscribed {
        seen,
        revision: first_revision,
    };
    set_up(&parent, true);
    let degraded = subscribed.next("DEGRADED").await;
    assert_eq!(degraded["status_reason"]["code"], "subports_not_active");
    assert_eq!(
        degraded["sub_ports_status"][0]["status_reason"]["code"],
        "not_claimed"
    );
    set_up(&subs[0], true);
    set_up(&subs[1], true);
    let active = subscribed.next("ACTIVE").await;
    assert_eq!(active["status_reason"], Value::Null);
    assert!(active["sub_ports_status"]
        .as_array()
        .expect("statuses")
        .iter()
        .all(|s| s["status"] == "ACTIVE" && s["status_reason"].is_null()));
    // A subport's port goes down (its network broke) and comes back.
    set_up(&subs[1], false);
    let broken = subscribed.next("DEGRADED").await;
    assert_eq!(broken["sub_ports_status"][0]["status"], "ACTIVE");
    assert_eq!(broken["sub_ports_status"][1]["status"], "DOWN");
    set_up(&subs[1], true);
    subscribed.next("ACTIVE").await;
    set_up(&parent, false);
    let down = subscribed.next("DOWN").await;
    assert_eq!(down["status_reason"]["code"], "parent_down");
    subscriber.abort();
    let status_now = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    assert_eq!(status_now, down, "nothing moved after the last change");
}
