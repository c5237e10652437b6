//! End to end with real components: a trunkd server with the `ovs` driver, RabbitMQ, a
//! `trunkd agent` process for host `hv1`, and a userspace Open vSwitch. The agent wires the
//! trunk (checked with ovs-vsctl), `ofproto/trace` proves a frame on VLAN N leaves through
//! subport N's patch pair into its network's local VLAN and no other, removals unwire, a killed
//! agent converges on restart, with the broker unreachable the server's events wait while the
//! agent catches up by resync (and `/readyz` names the broker), a migration to another host takes the wiring away from this one,
//! and unbinding the parent takes the trunk DOWN.
//!
//! Until the broker-down phase the agent's periodic resync is an hour: every change reaches it
//! through a RabbitMQ notification (or, after a restart, its start-up pass).

use crate::common;
use crate::readyz;
use crate::tcp_proxy;
use crate::vswitch;

use std::process::{Child, Stdio};
use std::time::Duration;

use common::answers::answers_are_final_under_concurrency;
use common::kit::{self, wait_until};
use common::{vlan, Server};
use serde_json::{json, Value};
use vswitch::Vswitch;

const HOST: &str = "hv1";
/// How long the agent may take to wire or unwire what a change asked for.
const CONVERGE: Duration = Duration::from_secs(20);

struct AgentProcess {
    child: Child,
}

impl Drop for AgentProcess {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn amqp(port: u16) -> String {
    format!("amqp://guest:guest@127.0.0.1:{port}/%2f")
}

fn start_agent(
    server: &Server,
    switch: &Vswitch,
    token_file: &std::path::Path,
    broker: &str,
    resync_seconds: u64,
) -> AgentProcess {
    let resync = resync_seconds.to_string();
    let child = common::trunkd()
        .args([
            "agent",
            "--host",
            HOST,
            "--server",
            &server.base,
            "--token-file",
            token_file.to_str().expect("path"),
            "--ovsdb",
            &switch.connection(),
            "--datapath-type",
            "netdev",
            "--resync-interval",
            &resync,
            "--rabbitmq-url",
            broker,
        ])
        .stdout(Stdio::null())
        .spawn()
        .expect("start the agent");
    AgentProcess { child }
}

fn prefix(id: &str) -> &str {
    &id[..11]
}

/// Local VLAN the agent gave a port's network: the tag of the port's peer on br-int.
fn local_vlan(switch: &Vswitch, port: &str) -> String {
    switch.vsctl(&["get", "Port", &format!("tq-{}", prefix(port)), "tag"])
}

/// The datapath actions of a frame the VM sends on `vlan` (None: untagged).
fn trace(switch: &Vswitch, bridge: &str, vlan: Option<i64>) -> String {
    let mut flow = "in_port=vm0,dl_src=fa:16:3e:00:00:01,dl_dst=fa:16:3e:00:00:02".to_string();
    if let Some(vlan) = vlan {
        flow.push_str(&format!(",dl_vlan={vlan}"));
    }
    let text = switch.appctl(&["ofproto/trace", bridge, &flow]);
    text.lines()
        .find(|l| l.starts_with("Datapath actions:"))
        .unwrap_or_else(|| panic!("no datapath actions in {text}"))
        .to_string()
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_agent_wires_trunks_into_open_vswitch() {
    let Some(broker) = kit::broker() else {
        return;
    };
    let Some(switch) = Vswitch::start("the_agent_wires_trunks_into_open_vswitch") else {
        return;
    };
    // The server reaches the broker through a proxy the test can cut; the agent directly.
    let proxy = tcp_proxy::TcpProxy::start(broker).await;
    let agent_broker = amqp(broker.port());
    let dir = tempfile::tempdir().expect("dir");
    let (token, entry) = common::agent_token(HOST);
    let token_file = dir.path().join("token");
    std::fs::write(&token_file, &token).expect("token file");
    let credentials = dir.path().join("agents.toml");
    std::fs::write(&credentials, &entry).expect("creds");

    let server = Server::start_with(&[
        "--noauth-default-admin",
        "--driver",
        "ovs",
        "--agent-credentials-file",
        credentials.to_str().expect("path"),
        "--rabbitmq-url",
        &amqp(proxy.port),
    ]);
    let admin = server.admin();
    let parent_net = admin.network(json!({"name": "parent-net"})).await;
    let net_a = admin.network(json!({"name": "a"})).await;
    let net_b = admin.network(json!({"name": "b"})).await;
    let parent = admin.port(&parent_net, json!({})).await;
    let sub_a = admin.port(&net_a, json!({})).await;
    let sub_b = admin.port(&net_b, json!({})).await;
    let trunk = admin
        .trunk(&parent, json!([vlan(&sub_a, 10), vlan(&sub_b, 20)]))
        .await;
    // Nova binds the parent to the host once the VM is placed.
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": HOST}}),
        )
        .await
        .expect(200);

    let mut agent = start_agent(&server, &switch, &token_file, &agent_broker, 3600);
    admin.wait_for_status(&trunk, "ACTIVE").await;
    let bridge = format!("tbr-{}", prefix(&trunk));
    let mut expected = vec![
        format!("tp-{}", prefix(&parent)),
        format!("tp-{}", prefix(&sub_a)),
        format!("tp-{}", prefix(&sub_b)),
    ];
    expected.sort();
    assert_eq!(switch.ports(&bridge), expected);
    assert_eq!(
        switch.vsctl(&["get", "Port", &format!("tp-{}", prefix(&sub_a)), "tag"]),
        "10"
    );
    assert_eq!(
        switch.vsctl(&[
            "get",
            "Port",
            &format!("tp-{}", prefix(&sub_a)),
            "external_ids:\"trunkd:trunk_id\""
        ]),
        format!("\"{trunk}\"")
    );
    for sub in [&sub_a, &sub_b] {
        let port = admin.get(&format!("/v2.0/ports/{sub}")).await.expect(200);
        assert_eq!(
            port["port"]["binding:host_id"], HOST,
            "subports follow the parent's host"
        );
    }

    // The VM's port on the trunk bridge, as os-vif would plug it.
    switch.vsctl(&[
        "add-port",
        &bridge,
        "vm0",
        "--",
        "set",
        "Interface",
        "vm0",
        "type=internal",
    ]);
    let (vlan_parent, vlan_a, vlan_b) = (
        local_vlan(&switch, &parent),
        local_vlan(&switch, &sub_a),
        local_vlan(&switch, &sub_b),
    );
    let distinct: std::collections::BTreeSet<&String> =
        [&vlan_parent, &vlan_a, &vlan_b].into_iter().collect();
    assert_eq!(distinct.len(), 3, "one local VLAN per network");
    for (vlan, through, not_through) in [
        (Some(10), &vlan_a, [&vlan_b, &vlan_parent]),
        (Some(20), &vlan_b, [&vlan_a, &vlan_parent]),
        (None, &vlan_parent, [&vlan_a, &vlan_b]),
    ] {
        let actions = trace(&switch, &bridge, vlan);
        assert!(
            actions.contains(&format!("vid={through}")),
            "VLAN {vlan:?} should reach local VLAN {through}: {actions}"
        );
        for other in not_through {
            assert!(
                !actions.contains(&format!("vid={other},"))
                    && !actions.contains(&format!("vid={other})")),
                "VLAN {vlan:?} leaked into local VLAN {other}: {actions}"
            );
        }
    }
    let unknown = trace(&switch, &bridge, Some(30));
    assert!(
        !unknown.contains("vid="),
        "a VLAN with no subport goes nowhere: {unknown}"
    );

    // Removing a subport removes its pair; the trunk is wired again.
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": sub_b}]}),
        )
        .await
        .expect(200);
    admin.wait_for_status(&trunk, "ACTIVE").await;
    wait_until(CONVERGE, "sub_b unwired", || {
        !switch
            .ports(&bridge)
            .contains(&format!("tp-{}", prefix(&sub_b)))
            && !switch
                .ports("br-int")
                .contains(&format!("tq-{}", prefix(&sub_b)))
    });

    // A subport is added and the agent is killed (SIGKILL) while the notification is on its
    // way or being acted on; meanwhile a patch port is deleted by hand. A pass is one OVSDB
    // transaction, so the switch holds all of a pass or none; the restarted agent converges.
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&sub_b, 30)]}),
        )
        .await
        .expect(200);
    drop(agent);
    switch.vsctl(&["del-port", &format!("tq-{}", prefix(&sub_a))]);
    agent = start_agent(&server, &switch, &token_file, &agent_broker, 3600);
    admin.wait_for_status(&trunk, "ACTIVE").await;
    wait_until(CONVERGE, "the restarted agent converged", || {
        switch
            .ports("br-int")
            .contains(&format!("tq-{}", prefix(&sub_a)))
            && switch
                .try_vsctl(&["get", "Port", &format!("tp-{}", prefix(&sub_b)), "tag"])
                .as_deref()
                == Some("30")
    });
    assert_eq!(
        local_vlan(&switch, &sub_a),
        vlan_a,
        "local VLANs survive a restart"
    );

    // Once the switch is quiet, only a notification can make the agent act on a change.
    tokio::time::sleep(Duration::from_secs(1)).await;
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/remove_subports"),
            json!({"sub_ports": [{"port_id": sub_b}]}),
        )
        .await
        .expect(200);
    // The trunk stays ACTIVE (its remaining ports are): what shows the agent acted is the
    // pair gone from the switch.
    wait_until(CONVERGE, "sub_b unwired on notification", || {
        !switch
            .ports(&bridge)
            .contains(&format!("tp-{}", prefix(&sub_b)))
    });
    admin.wait_for_status(&trunk, "ACTIVE").await;

    // The broker becomes unreachable for the server: its events wait in the outbox, and an
    // agent with a short resync catches up without any notification.
    drop(agent);
    agent = start_agent(&server, &switch, &token_file, &agent_broker, 1);
    let settled = admin.wait_for_status(&trunk, "ACTIVE").await;

    // A trunk refused by an agent (as one that found no local VLAN would) is ERROR with the
    // reason until an agent wires it: the next pass here does, and says so.
    let reported = reqwest::Client::new()
        .put(format!("{}/agent/v1/trunks/{trunk}/verdict", server.base))
        .bearer_auth(&token)
        .json(&json!({
            "verdict": "refused",
            "reason": "a passing fault",
            "revision_number": settled["revision_number"],
        }))
        .send()
        .await
        .expect("report");
    assert_eq!(reported.status(), 200);
    let refused = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(refused["trunk"]["status"], "ERROR");
    assert_eq!(
        refused["trunk"]["status_reason"]["message"],
        "a passing fault"
    );
    admin.wait_for_status(&trunk, "ACTIVE").await;
    readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    proxy.down();
    let (not_ready, _) = readyz::until_down(&server.base, "broker", Duration::from_secs(15)).await;
    assert_eq!(
        not_ready["dependencies"],
        json!({"broker": "down"}),
        "{not_ready}"
    );
    admin
        .put(
            &format!("/v2.0/trunks/{trunk}/add_subports"),
            json!({"sub_ports": [vlan(&sub_b, 40)]}),
        )
        .await
        .expect(200);
    admin.wait_for_status(&trunk, "ACTIVE").await;
    assert_eq!(
        switch.vsctl(&["get", "Port", &format!("tp-{}", prefix(&sub_b)), "tag"]),
        "40",
        "the agent wired the subport by resync"
    );
    assert!(
        admin.pending_events().await > 0.0,
        "the event waits for the broker"
    );
    proxy.up().await;
    admin.wait_for_outbox_drained().await;
    readyz::until_ready(&server.base, Duration::from_secs(10)).await;
    drop(agent);
    agent = start_agent(&server, &switch, &token_file, &agent_broker, 3600);

    // br-int deleted by hand: the agent creates it again at once (it hears of the change),
    // with the trunk's peers on it, instead of warning at every pass.
    switch.vsctl(&["del-br", "br-int"]);
    wait_until(
        CONVERGE,
        "the agent recreated br-int with the trunk's peers",
        || {
            switch.bridges().iter().any(|b| b == "br-int")
                && switch
                    .ports("br-int")
                    .contains(&format!("tq-{}", prefix(&sub_a)))
        },
    );
    assert_eq!(
        switch.vsctl(&["get", "Bridge", "br-int", "datapath_type"]),
        "netdev"
    );

    // The VM migrates to hv2: the subports' bindings follow, and hv1's agent, told through the
    // host the parent left, removes its wiring.
    switch.vsctl(&["del-port", "vm0"]);
    // Let the pass that change triggers finish, so only the notification can tell the agent.
    tokio::time::sleep(Duration::from_secs(1)).await;
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": "hv2"}}),
        )
        .await
        .expect(200);
    for sub in [&sub_a, &sub_b] {
        let port = admin.get(&format!("/v2.0/ports/{sub}")).await.expect(200);
        assert_eq!(port["port"]["binding:host_id"], "hv2");
    }
    wait_until(CONVERGE, "hv1 unwired the trunk that left", || {
        !switch.bridges().contains(&bridge)
    });
    wait_until(CONVERGE, "br-int cleaned", || {
        switch.ports("br-int").iter().all(|p| !p.starts_with("tq-"))
    });

    // Unbound: the trunk goes DOWN in the same transaction.
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": ""}}),
        )
        .await
        .expect(200);
    let shown: Value = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(shown["trunk"]["status"], "DOWN");
    assert!(!switch.bridges().contains(&bridge));
    drop(agent);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn answers_with_the_ovs_driver_are_what_a_get_shows() {
    let Some(broker) = kit::broker() else {
        return;
    };
    let server = Server::start_with(&[
        "--noauth-default-admin",
        "--driver",
        "ovs",
        "--rabbitmq-url",
        &amqp(broker.port()),
    ]);
    // As with Neutron's agent: DOWN until a host's agent reports, which none does for a parent
    // bound nowhere; the answer does not wait, and a GET right after it says the same.
    answers_are_final_under_concurrency(&server, "DOWN").await;
}
