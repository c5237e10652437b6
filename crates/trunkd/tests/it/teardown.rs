//! Teardown in one call (issue 20, item 2; extension `trunk-teardown`):
//! `DELETE /v2.0/trunks/{id}?delete_ports=true[&force=true]` and
//! `DELETE /v2.0/ports/{id}?remove_from_trunk=true`, all or nothing, over HTTP against a real
//! server (SQLite, or PostgreSQL when the tests run on it); the events a driver sees, through
//! an in-process service; and a race with add_subports across two servers on one database.

use crate::common;
use crate::support;

use std::sync::{Arc, Mutex};
use std::time::Duration;

use async_trait::async_trait;
use common::invariants::check_invariants;
use common::{vlan, Client, Identity, Server};
use reqwest::Method;
use serde_json::{json, Value};
use support::kit::settle;
use trunkd::drivers::{DriverError, Settlement, StatusReporter, TrunkDriver};
use trunkd::model::SegmentationType;
use trunkd::service::BoundParent;
use trunkd::store::{PendingEvent, ResourceKind};

/// A trunk of `client`'s with two VLAN subports on a network with a subnet: (network,
/// trunk, parent, subports).
async fn trunk_with_two_subports(client: &Client) -> (String, String, String, Vec<String>) {
    let net = client.network(json!({})).await;
    client.subnet(&net, json!({"cidr": "10.9.0.0/24"})).await;
    let ports = client.ports(&net, 3).await;
    let trunk = client
        .trunk(&ports[0], json!([vlan(&ports[1], 10), vlan(&ports[2], 20)]))
        .await;
    (net, trunk, ports[0].clone(), ports[1..].to_vec())
}

/// The one IPv4 address of port `id`.
async fn address_of(client: &Client, id: &str) -> String {
    let port = client.get(&format!("/v2.0/ports/{id}")).await.expect(200);
    port["port"]["fixed_ips"][0]["ip_address"]
        .as_str()
        .expect("an address")
        .to_string()
}

/// Asserts the trunk and its ports are all still there, the trunk with `subports` subports.
async fn all_there(client: &Client, trunk: &str, ports: &[&String], subports: usize) {
    let shown = client
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200);
    assert_eq!(
        shown["trunk"]["sub_ports"].as_array().map(Vec::len),
        Some(subports),
        "{shown}"
    );
    for port in ports {
        client.get(&format!("/v2.0/ports/{port}")).await.expect(200);
    }
}

/// Asserts the trunk and its ports are all gone.
async fn all_gone(client: &Client, trunk: &str, ports: &[&String]) {
    client
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect_error(404, "TrunkNotFound");
    for port in ports {
        client
            .get(&format!("/v2.0/ports/{port}"))
            .await
            .expect_error(404, "PortNotFound");
    }
}

#[tokio::test]
async fn the_cascade_deletes_the_trunk_and_its_ports_and_frees_their_addresses() {
    let server = Server::start();
    let admin = server.admin();
    let (net, trunk, parent, subs) = trunk_with_two_subports(&admin).await;
    let everything = [&parent, &subs[0], &subs[1]];
    let mut addresses = Vec::new();
    for port in everything {
        addresses.push(address_of(&admin, port).await);
    }
    // Held: another port cannot take them.
    admin
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": addresses[0]}]}}),
        )
        .await
        .expect_error(409, "IpAddressAlreadyAllocated");

    // If-Match still applies, and a refusal changes nothing.
    let path = format!("/v2.0/trunks/{trunk}?delete_ports=true");
    let stale = admin
        .send_with(
            Method::DELETE,
            &path,
            None,
            &[("If-Match", "revision_number=99")],
        )
        .await;
    assert_eq!(stale.status.as_u16(), 412, "{}", stale.body);
    all_there(&admin, &trunk, &everything, 2).await;

    let revision = admin
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]["revision_number"]
        .to_string();
    let matched = format!("revision_number={revision}");
    let reply = admin
        .send_with(Method::DELETE, &path, None, &[("If-Match", &matched)])
        .await;
    assert_eq!(reply.status.as_u16(), 204, "{}", reply.body);
    all_gone(&admin, &trunk, &everything).await;

    // Every address is free again: new ports take them.
    for address in &addresses {
        admin
            .post(
                "/v2.0/ports",
                json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": address}]}}),
            )
            .await
            .expect(201);
    }
    check_invariants(&server, "after a cascade").await;
}

#[tokio::test]
async fn without_the_opt_in_deletes_are_neutrons() {
    let server = Server::start();
    let admin = server.admin();
    let (_, trunk, parent, subs) = trunk_with_two_subports(&admin).await;
    // A subport cannot be deleted, as in Neutron.
    admin
        .delete(&format!("/v2.0/ports/{}", subs[0]))
        .await
        .expect_error(409, "PortInUseAsSubPort");
    admin
        .delete(&format!("/v2.0/ports/{}?remove_from_trunk=false", subs[0]))
        .await
        .expect_error(409, "PortInUseAsSubPort");
    // Unknown parameters are ignored as before; delete_ports=false is no opt-in: the trunk
    // goes, its ports stay, free of it.
    admin
        .delete(&format!(
            "/v2.0/trunks/{trunk}?delete_ports=false&colour=blue"
        ))
        .await
        .expect(204);
    for port in [&parent, &subs[0], &subs[1]] {
        let shown = admin.get(&format!("/v2.0/ports/{port}")).await.expect(200);
        assert_eq!(shown["port"]["device_owner"], "", "{shown}");
    }
    check_invariants(&server, "after a plain delete").await;
}

#[tokio::test]
async fn bad_parameters_are_400s_naming_them_and_change_nothing() {
    let server = Server::start();
    let admin = server.admin();
    let (_, trunk, parent, subs) = trunk_with_two_subports(&admin).await;
    for (query, field) in [
        ("delete_ports=maybe", "delete_ports"),
        ("force=true", "force"),
        ("delete_ports=false&force=true", "force"),
        ("delete_ports=true&force=yes", "force"),
    ] {
        let reply = admin
            .delete(&format!("/v2.0/trunks/{trunk}?{query}"))
            .await
            .expect_error(400, "HTTPBadRequest");
        assert!(reply.message().contains(field), "{query}: {}", reply.body);
    }
    let reply = admin
        .delete(&format!("/v2.0/ports/{}?remove_from_trunk=maybe", subs[0]))
        .await
        .expect_error(400, "HTTPBadRequest");
    assert!(
        reply.message().contains("remove_from_trunk"),
        "{}",
        reply.body
    );
    all_there(&admin, &trunk, &[&parent, &subs[0], &subs[1]], 2).await;
}

#[tokio::test]
async fn a_bound_parent_is_refused_unless_an_admin_forces() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let admin = server.admin();
    let (_, trunk, parent, subs) = trunk_with_two_subports(&owner).await;
    let everything = [&parent, &subs[0], &subs[1]];
    admin
        .put(
            &format!("/v2.0/ports/{parent}"),
            json!({"port": {"binding:host_id": "compute-7"}}),
        )
        .await
        .expect(200);

    let refused = owner
        .delete(&format!("/v2.0/trunks/{trunk}?delete_ports=true"))
        .await
        .expect_error(409, "TrunkInUse");
    let message = refused.message();
    assert!(
        message.contains(&parent) && message.contains("compute-7"),
        "the refusal names the parent and its host: {message}"
    );
    all_there(&owner, &trunk, &everything, 2).await;

    // Forcing is the admins' (policy delete_trunk:force).
    let reply = owner
        .delete(&format!(
            "/v2.0/trunks/{trunk}?delete_ports=true&force=true"
        ))
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.body);
    assert!(
        reply.message().contains("delete_trunk:force"),
        "{}",
        reply.body
    );
    all_there(&owner, &trunk, &everything, 2).await;

    admin
        .delete(&format!(
            "/v2.0/trunks/{trunk}?delete_ports=true&force=true"
        ))
        .await
        .expect(204);
    all_gone(&admin, &trunk, &everything).await;
    check_invariants(&server, "after a forced cascade").await;
}

#[tokio::test]
async fn a_port_the_caller_may_not_delete_fails_the_whole_request() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let admin = server.admin();
    let net = owner.network(json!({})).await;
    let ports = owner.ports(&net, 2).await;
    // An admin puts another project's port into p1's trunk.
    let foreign = admin
        .port(&net, json!({"project_id": "p2", "tenant_id": "p2"}))
        .await;
    let trunk = admin
        .post(
            "/v2.0/trunks",
            json!({"trunk": {
                "port_id": ports[0],
                "project_id": "p1",
                "tenant_id": "p1",
                "sub_ports": [vlan(&ports[1], 10), vlan(&foreign, 20)],
            }}),
        )
        .await
        .expect(201)["trunk"]["id"]
        .as_str()
        .expect("id")
        .to_string();
    owner
        .delete(&format!("/v2.0/trunks/{trunk}?delete_ports=true"))
        .await
        .expect_error(404, "PortNotFound");
    all_there(&admin, &trunk, &[&ports[0], &ports[1], &foreign], 2).await;
    // A reader of p1 sees everything but may delete nothing.
    let reader = server.as_(Identity::reader("p1"));
    let reply = reader
        .delete(&format!("/v2.0/trunks/{trunk}?delete_ports=true"))
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.body);
    all_there(&admin, &trunk, &[&ports[0], &ports[1], &foreign], 2).await;
    check_invariants(&server, "after refused cascades").await;
}

#[tokio::test]
async fn remove_from_trunk_deletes_a_subport_in_one_step() {
    let server = Server::start();
    let owner = server.as_(Identity::member("p1"));
    let (net, trunk, parent, subs) = trunk_with_two_subports(&owner).await;
    let before = owner
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    let address = address_of(&owner, &subs[0]).await;

    owner
        .delete(&format!("/v2.0/ports/{}?remove_from_trunk=true", subs[0]))
        .await
        .expect(204);
    owner
        .get(&format!("/v2.0/ports/{}", subs[0]))
        .await
        .expect_error(404, "PortNotFound");
    let after = owner
        .get(&format!("/v2.0/trunks/{trunk}"))
        .await
        .expect(200)["trunk"]
        .clone();
    let left: Vec<&Value> = after["sub_ports"]
        .as_array()
        .expect("sub_ports")
        .iter()
        .collect();
    assert_eq!(left.len(), 1, "{after}");
    assert_eq!(left[0]["port_id"], subs[1].as_str());
    assert!(
        after["revision_number"].as_i64() > before["revision_number"].as_i64(),
        "the trunk's revision moved: {before} -> {after}"
    );
    assert_eq!(after["status"], "ACTIVE", "{after}");
    // The address is free again.
    let admin = server.admin();
    admin
        .post(
            "/v2.0/ports",
            json!({"port": {"network_id": net, "fixed_ips": [{"ip_address": address}]}}),
        )
        .await
        .expect(201);

    // A parent stays a 409, pointing at the trunk teardown; so does a port of no trunk with
    // the opt-in simply deleted.
    let refused = owner
        .delete(&format!("/v2.0/ports/{parent}?remove_from_trunk=true"))
        .await
        .expect_error(409, "PortInUseAsTrunkParent");
    assert!(
        refused.message().contains("delete_ports=true"),
        "{}",
        refused.body
    );
    let loose = owner.port(&net, json!({})).await;
    owner
        .delete(&format!("/v2.0/ports/{loose}?remove_from_trunk=true"))
        .await
        .expect(204);
    // A reader may not.
    let reader = server.as_(Identity::reader("p1"));
    let reply = reader
        .delete(&format!("/v2.0/ports/{}?remove_from_trunk=true", subs[1]))
        .await;
    assert_eq!(reply.status.as_u16(), 403, "{}", reply.body);
    all_there(&owner, &trunk, &[&parent, &subs[1]], 1).await;
    check_invariants(&server, "after remove_from_trunk").await;
}

/// Records (resource, id, event name) of every event it is handed.
#[derive(Default)]
struct Recorder {
    seen: Mutex<Vec<(ResourceKind, String, &'static str)>>,
}

#[async_trait]
impl TrunkDriver for Recorder {
    fn name(&self) -> &'static str {
        "recorder"
    }
    fn settlement(&self) -> Settlement {
        Settlement::InTransaction
    }
    fn segmentation_types(&self) -> &'static [SegmentationType] {
        &[SegmentationType::Vlan]
    }
    fn can_manage_bound_port(&self) -> bool {
        true
    }
    fn vif_type(&self) -> &'static str {
        "ovs"
    }
    async fn deliver(
        &self,
        event: &PendingEvent,
        _status: &dyn StatusReporter,
    ) -> Result<(), DriverError> {
        self.seen.lock().expect("lock").push((
            event.resource(),
            event.resource_id.clone(),
            event.event.name(),
        ));
        Ok(())
    }
}

impl Recorder {
    fn saw(&self, resource: ResourceKind, id: &str, name: &str) -> bool {
        self.seen
            .lock()
            .expect("lock")
            .iter()
            .any(|(r, i, n)| *r == resource && i == id && *n == name)
    }
}

#[tokio::test]
async fn drivers_see_a_trunk_deletion_then_each_ports() {
    let recorder = Arc::new(Recorder::default());
    let h = support::harness(vec![recorder.clone()]).await;
    let net = h.network().await;
    let ports = h.ports(net, 3).await;
    let trunk = h
        .trunk(
            ports[0],
            vec![support::vlan(ports[1], 10), support::vlan(ports[2], 20)],
        )
        .await;
    let dispatcher = h.dispatcher();
    let running = tokio::spawn(dispatcher.run());
    let trunk_id = trunk.to_string();
    let seen = &recorder;
    settle(Duration::from_secs(10), "the trunk's creation", || async {
        match seen.saw(ResourceKind::Trunk, &trunk_id, "created") {
            true => Ok(()),
            false => Err("not yet"),
        }
    })
    .await;

    h.service
        .delete_trunk_with_ports(&h.ctx(), trunk, BoundParent::Refuse, None)
        .await
        .expect("teardown");
    settle(Duration::from_secs(10), "the deletions", || async {
        let mut missing = Vec::new();
        if !seen.saw(ResourceKind::Trunk, &trunk_id, "deleted") {
            missing.push(format!("trunk {trunk_id}"));
        }
        for port in &ports {
            if !seen.saw(ResourceKind::Port, &port.to_string(), "deleted") {
                missing.push(format!("port {port}"));
            }
        }
        match missing.is_empty() {
            true => Ok(()),
            false => Err(format!("not yet deleted: {missing:?}")),
        }
    })
    .await;
    // The dispatcher delivers each resource's events in order but different resources side
    // by side (as it does for separate calls), so the test asks for no order across them.
    let mut tx = h.store.begin_read().await.expect("read");
    assert!(tx.get_trunk(trunk).await.expect("get").is_none());
    for port in &ports {
        assert!(tx.get_port(*port).await.expect("get").is_none());
    }
    running.abort();
}

/// Concurrent add_subports and teardowns of the same trunks through two servers on one
/// database: each trunk ends gone with every port it had at its deletion, and a port that was
/// being added is either deleted with it or left free, never a subport of a deleted trunk.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_teardown_racing_add_subports_leaves_nothing_half_done() {
    const ROUNDS: usize = 6;
    let first = Server::start();
    let second = first.start_beside(&[]);
    let (a, b) = (first.admin(), second.admin());
    let net = a.network(json!({})).await;
    let mut adds_first = 0;
    for round in 0..ROUNDS {
        let ports = a.ports(&net, 4).await;
        let trunk = a.trunk(&ports[0], json!([vlan(&ports[1], 10)])).await;
        let (adder, deleter) = if round % 2 == 0 { (&a, &b) } else { (&b, &a) };
        let add_path = format!("/v2.0/trunks/{trunk}/add_subports");
        let add_body = json!({"sub_ports": [vlan(&ports[2], 20), vlan(&ports[3], 30)]});
        let delete_path = format!("/v2.0/trunks/{trunk}?delete_ports=true");
        let (added, deleted) =
            tokio::join!(adder.put(&add_path, add_body), deleter.delete(&delete_path));
        let (added, deleted) = (added.status.as_u16(), deleted.status.as_u16());
        assert_eq!(deleted, 204, "round {round}: the teardown failed");
        assert!(
            added == 200 || added == 404,
            "round {round}: add_subports answered {added}"
        );
        adds_first += usize::from(added == 200);
        a.get(&format!("/v2.0/trunks/{trunk}"))
            .await
            .expect_error(404, "TrunkNotFound");
        for port in &ports[..2] {
            a.get(&format!("/v2.0/ports/{port}"))
                .await
                .expect_error(404, "PortNotFound");
        }
        for port in &ports[2..] {
            let shown = a.get(&format!("/v2.0/ports/{port}")).await;
            match (added, shown.status.as_u16()) {
                // Added first: deleted with the trunk.
                (200, status) => assert_eq!(status, 404, "round {round}: {}", shown.body),
                // The trunk was gone: the port is untouched and free.
                (_, 200) => {
                    assert_eq!(shown.body["port"]["device_owner"], "", "{}", shown.body);
                    assert_eq!(shown.body["port"]["device_id"], "", "{}", shown.body);
                }
                (_, status) => panic!("round {round}: port {port} answered {status}"),
            }
        }
        check_invariants(&first, &format!("round {round}")).await;
    }
    eprintln!("add_subports committed first in {adds_first} of {ROUNDS} rounds");
}
